"""The one exception tree: every Konsens error has a branch, and retries decide by branch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading

import pytest
from sqlalchemy.exc import OperationalError

import core
import workers
from core.accounts.bitpanda_api import BitpandaApiError, BitpandaAuthError, BitpandaTransientError
from core.accounts.bitpanda_csv import BitpandaCsvError
from core.ai.llm import ProviderError
from core.db.engine import Database
from core.errors import (
    ErrorBranch,
    KonsensError,
    PermanentError,
    TransientError,
    UncertainError,
    error_branch,
    is_transient,
)
from core.execution.broker import BrokerRejected, BrokerUnavailable, BrokerUncertain, LiveTradingUnavailable
from core.execution.executor import ReconciliationPending
from core.execution.orders import IllegalTransition, OrderValidationError
from core.market.sources.base import (
    MarketDataError,
    SourceAuthenticationError,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
)
from core.news.errors import SourceAuthError, SourceBadResponse, SourceRateLimited, SourceUnavailable
from core.retry import call_with_retries
from core.risk.notify import DeliveryError
from core.risk.settings import RiskSettingsError
from workers.runtime import WorkerLoop, retried_with_backoff

T, P, U = ErrorBranch.TRANSIENT, ErrorBranch.PERMANENT, ErrorBranch.UNCERTAIN


@pytest.mark.parametrize(
    ("error", "branch"),
    [
        (BrokerUnavailable("rate limit"), T),
        (BrokerUncertain("no answer"), U),
        (BrokerRejected("insufficient_funds", "no money"), P),
        (LiveTradingUnavailable("no key"), P),
        (ReconciliationPending("1 order"), U),
        (IllegalTransition("filled → open"), P),
        (OrderValidationError("no quantity"), P),
        (SourceUnavailableError("timeout"), T),
        (SourceAuthenticationError("401"), P),
        (UnknownSymbolError("XYZ"), P),
        (SourceResponseError("garbage"), P),
        (MarketDataError("plain"), P),
        (SourceUnavailable("5xx"), T),
        (SourceRateLimited("429"), T),
        (SourceAuthError("403"), P),
        (SourceBadResponse("not json"), P),
        (BitpandaTransientError("timeout"), T),
        (BitpandaAuthError("401"), P),
        (BitpandaApiError("unknown wallet"), P),
        (BitpandaCsvError("line 3"), P),
        (ProviderError("HTTP 503", retryable=True), T),
        (ProviderError("HTTP 401", retryable=False), P),
        (DeliveryError("webhook 500"), T),
        (RiskSettingsError("bad"), P),
        (TimeoutError("stdlib"), P),
        (OperationalError("SELECT 1", {}, Exception("database is locked")), T),
        (OperationalError("SELECT 1", {}, Exception("no such table: orders")), P),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_reaches_its_branch(error: BaseException, branch: ErrorBranch) -> None:
    assert error_branch(error) is branch
    assert is_transient(error) is (branch is T)


def test_area_errors_keep_their_builtin_bases_for_existing_handlers() -> None:
    assert issubclass(OrderValidationError, ValueError)
    assert issubclass(BitpandaApiError, RuntimeError)
    assert issubclass(BitpandaTransientError, BitpandaApiError)


def _modules(package: object) -> list[str]:
    path = package.__path__  # type: ignore[attr-defined]
    prefix = package.__name__ + "."  # type: ignore[attr-defined]
    return [info.name for info in pkgutil.walk_packages(path, prefix) if ".migrations." not in info.name]


def test_every_exception_class_of_core_and_workers_derives_from_the_root() -> None:
    strays = []
    for name in _modules(core) + _modules(workers) + ["app.cli._common"]:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if not issubclass(cls, KonsensError):
                strays.append(f"{name}.{cls.__name__}")
            elif cls not in (KonsensError, TransientError, PermanentError, UncertainError):
                assert isinstance(cls.branch, ErrorBranch)
    assert strays == []


def test_call_with_retries_retries_the_transient_branch_only() -> None:
    calls: list[str] = []

    def flaky() -> str:
        calls.append("call")
        if len(calls) < 3:
            raise SourceUnavailableError("timeout")
        return "ok"

    assert call_with_retries(flaky, attempts=5, base_seconds=0, sleep=lambda _: None) == "ok"
    assert len(calls) == 3

    def uncertain() -> None:
        calls.append("uncertain")
        raise BrokerUncertain("sent, no answer")

    with pytest.raises(BrokerUncertain):
        call_with_retries(uncertain, attempts=5, base_seconds=0, sleep=lambda _: None)
    assert calls.count("uncertain") == 1  # never repeated blindly


@pytest.mark.parametrize(
    ("error", "backoff"),
    [(BrokerUnavailable("429"), True), (BrokerUncertain("?"), True), (BrokerRejected("venue_auth", "key"), False)],
)
def test_worker_loop_backs_off_by_branch(database: Database, error: BaseException, backoff: bool) -> None:
    assert retried_with_backoff(error) is backoff
    waits: list[float] = []
    stop = threading.Event()

    def failing(_database: Database) -> None:
        raise error

    loop = WorkerLoop("branch-test", database, failing, interval_seconds=30, stop_event=stop)
    stop.wait = lambda timeout=None: waits.append(timeout) or stop.set() or True  # type: ignore[method-assign,func-returns-value,arg-type]
    loop.run()
    assert waits == [2.0] if backoff else waits == [30]
