"""Process metrics: worker passes, SQL statements, pools, retries and rate-limit waits, the /metrics server."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from core.db.engine import Database
from core.observability import metrics
from core.retry import RateLimiter, call_with_retries
from workers.runtime import WorkerLoop


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_worker_passes_failures_and_durations_are_counted(sqlite_database: Database) -> None:
    calls = {"n": 0}

    def run_pass(_database: Database) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("second pass breaks")

    loop = WorkerLoop("metrics-test", sqlite_database, run_pass, interval_seconds=0)
    before = value("konsens_worker_passes_total", worker="metrics-test")
    loop.run(once=True)
    loop.run(once=True)

    assert value("konsens_worker_passes_total", worker="metrics-test") == before + 2
    assert value("konsens_worker_pass_failures_total", worker="metrics-test") == 1
    assert value("konsens_worker_pass_duration_seconds_count", worker="metrics-test") == 2
    assert value("konsens_worker_last_success_timestamp_seconds", worker="metrics-test") > 1.7e9
    assert value("konsens_worker_running", worker="metrics-test") == 0  # the loop has ended


def test_statements_are_timed_by_operation_and_errors_counted(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    selects = value("konsens_db_query_duration_seconds_count", operation="select")
    errors = value("konsens_db_errors_total", kind="other")
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        with pytest.raises(Exception, match="no such table"):
            connection.execute(text("SELECT * FROM no_such_table"))

    assert value("konsens_db_query_duration_seconds_count", operation="select") >= selects + 1
    assert value("konsens_db_errors_total", kind="other") == errors + 1
    database.dispose()


def test_pool_connections_in_use_are_reported(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'p.db'}")
    before = value("konsens_db_pool_connections", state="in_use")
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        assert value("konsens_db_pool_connections", state="in_use") == before + 1
    assert value("konsens_db_pool_connections", state="in_use") == before
    database.dispose()


@pytest.mark.parametrize(
    ("statement", "operation"),
    [("SELECT 1", "select"), ("  insert into x values (1)", "insert"), ("VACUUM", "other"), ("", "other")],
)
def test_statement_operation_is_a_bounded_label(statement: str, operation: str) -> None:
    assert metrics.statement_operation(statement) == operation


def test_retries_count_per_service_named_by_the_description() -> None:
    attempts = {"n": 0}

    def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise TimeoutError("slow")
        return "ok"

    before = value("konsens_service_retries_total", service="bitpanda")
    result = call_with_retries(
        flaky,
        is_transient=lambda error: isinstance(error, TimeoutError),
        attempts=5,
        base_seconds=0.0,
        sleep=lambda _seconds: None,
        description="Bitpanda GET /trades",
    )
    assert result == "ok"
    assert value("konsens_service_retries_total", service="bitpanda") == before + 2


def test_rate_limit_waits_add_up_per_service() -> None:
    now = {"t": 100.0}
    limiter = RateLimiter(2.0, clock=lambda: now["t"], sleep=lambda _seconds: None, service="metrics-test")
    limiter.acquire()  # the first call never waits
    limiter.acquire()  # 2 s after the first

    assert value("konsens_rate_limit_wait_seconds_total", service="metrics-test") == 2.0


@pytest.fixture
def served_port() -> Iterator[int]:
    metrics.stop_metrics_server()
    port = metrics.start_metrics_server(0, "127.0.0.1")
    yield port
    metrics.stop_metrics_server()


def test_the_metrics_server_answers_a_real_scrape(served_port: int) -> None:
    assert served_port > 0
    assert metrics.start_metrics_server(0, "127.0.0.1") == served_port  # a second start reuses it
    with urllib.request.urlopen(f"http://127.0.0.1:{served_port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert "# TYPE konsens_worker_passes_total counter" in body
    assert "konsens_db_pool_connections" in body
    assert "process_cpu_seconds_total" in body


def test_a_port_in_use_is_reported_and_the_process_goes_on(served_port: int) -> None:
    metrics.stop_metrics_server()
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        assert metrics.start_metrics_server(taken, "127.0.0.1") == 0
