"""Strategies as signal sources, end to end in core: closed candle → signal → order intent → risk check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from core.audit.models import AuditEntry
from core.backtest.models import StrategySource
from core.backtest.series import PriceSeries
from core.backtest.signal_source import (
    SignalSourceError,
    disable_source,
    enable_source,
    find_source,
    list_sources,
    run_signal_sources,
)
from core.backtest.strategies import build_strategy
from core.backtest.strategy import StrategyError
from core.backtest.user_strategies import load_catalog, register_catalog
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.demo.seed import _store_candles
from core.execution.models import Order, OrderStatus
from core.execution.service import deposit_paper_cash
from core.market.demo_source import demo_hourly_candles
from core.market.models import AssetClass, Instrument
from core.risk.alerts import list_alerts
from core.risk.models import AlertKind
from core.risk.settings import save_limits
from core.timeutil import simulated_clock
from tests.core.backtest import user_files
from workers.executor import build_worker

START = datetime(2025, 6, 1, tzinfo=UTC)
HOURS = 160
PARAMS: dict[str, object] = {"fast": 4, "slow": 12}
HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _forget_user_strategies() -> object:
    yield
    register_catalog(load_catalog(None))


def _candles() -> pd.DataFrame:
    return demo_hourly_candles("BTC/EUR", START, START + timedelta(hours=HOURS))


def _signal_bars(kind: int) -> list[int]:
    """The candles at whose close sma-cross(4, 12) gives ``kind`` (+1 buy / -1 sell)."""
    frame = _candles().set_index("ts")
    codes = build_strategy("sma-cross", PARAMS).decisions(PriceSeries.from_frame(frame, label="BTC/EUR"))
    return [int(index) for index in (codes == kind).nonzero()[0]]


def _database(tmp_path: Path, candles: int) -> Database:
    """BTC/EUR with the first ``candles`` hourly candles and 10,000 EUR of paper cash."""
    database = Database(f"sqlite:///{tmp_path / 'signals.db'}")
    upgrade_database(database)
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        _store_candles(session, instrument.id, _candles().iloc[:candles])
        deposit_paper_cash(session, Decimal("10000"), actor="test")
    return database


def _enable(database: Database, strategy: str = "sma-cross", params: Mapping[str, object] | None = None) -> int:
    with database.session() as session:
        return enable_source(
            session,
            strategy,
            "BTC/EUR",
            "1h",
            parameters=PARAMS if params is None else params,
            position_fraction=Decimal("0.3"),
            actor="test",
        ).id


def _orders(database: Database) -> list[Order]:
    with database.session() as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        session.expunge_all()
        return orders


def test_a_buy_on_the_newest_closed_candle_becomes_an_order_that_passes_the_risk_checks(tmp_path: Path) -> None:
    buy = _signal_bars(1)[0]
    # The database knows the candles up to the one now forming (buy + 1): candle ``buy`` just closed.
    database = _database(tmp_path, buy + 2)
    _enable(database)
    now = START + (buy + 1) * HOUR
    (evaluation,) = run_signal_sources(database, now=now)
    assert evaluation.outcome == "buy" and evaluation.order_id is not None
    (order,) = _orders(database)
    assert order.status is OrderStatus.NEW and order.created_by == "strategy:sma-cross"
    assert order.side.value == "buy" and order.mode.value == "paper"
    close = Decimal(repr(float(_candles()["close"].iloc[buy])))
    expected = Decimal("10000") * Decimal("0.3") / (close * Decimal("1.0025"))
    assert order.quantity is not None and abs(order.quantity - expected) < Decimal("0.00000002")
    # the same candle again: nothing twice
    assert [item.outcome for item in run_signal_sources(database, now=now + timedelta(minutes=30))] == ["no new candle"]
    assert len(_orders(database)) == 1
    with database.session() as session:
        source = find_source(session, "sma-cross")
        assert source.last_signal == "buy" and source.last_order_id == order.id
        assert source.last_candle_at == START + buy * HOUR
    # the executor's pre-trade risk checks take it like any ticket
    with simulated_clock(lambda: now + timedelta(seconds=5)):
        build_worker(database, interval_seconds=0.0).run(once=True)
    (checked,) = _orders(database)
    assert checked.status in (OrderStatus.OPEN, OrderStatus.FILLED), (checked.status, checked.reject_reason)


def test_a_risk_limit_denies_the_strategys_order(tmp_path: Path) -> None:
    buy = _signal_bars(1)[0]
    database = _database(tmp_path, buy + 2)
    with database.session() as session:
        save_limits(session, {"max_instrument_exposure_pct": Decimal("0.2")}, actor="test")
    _enable(database)
    now = START + (buy + 1) * HOUR
    run_signal_sources(database, now=now)
    with simulated_clock(lambda: now + timedelta(seconds=5)):
        build_worker(database, interval_seconds=0.0).run(once=True)
    (order,) = _orders(database)
    assert order.status is OrderStatus.DENIED and order.reject_rule == "max_instrument_exposure"


def test_no_signal_a_sell_while_flat_and_a_forming_candle_place_nothing(tmp_path: Path) -> None:
    sell = _signal_bars(-1)[0]
    database = _database(tmp_path, sell + 2)
    _enable(database)
    # the candle sell + 1 is still forming at this time: the strategy only sees candle ``sell``
    (evaluation,) = run_signal_sources(database, now=START + (sell + 1) * HOUR + timedelta(minutes=59))
    assert evaluation.outcome == "ignored: sell while flat"
    assert _orders(database) == []


def test_a_raising_user_strategy_is_switched_off_with_an_alert_and_places_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = user_files.write(
        home / "strategies", "raises.py", user_files.RAISES.replace("bar.index == 30", "bar.index >= 30")
    )
    database = _database(tmp_path, 60)
    from core.backtest.user_strategies import load_user_strategies

    load_user_strategies(home)
    source_id = _enable(database, "raises", {})
    (evaluation,) = run_signal_sources(database, home=home, now=START + 60 * HOUR)
    assert evaluation.outcome.startswith("disabled: strategy raises (")
    assert f"{path}, line {user_files.line_of(path, 'raise ZeroDivisionError')}" in evaluation.outcome
    assert _orders(database) == []  # its buy at candle 10 was never acted on: the computation did not finish
    with database.session() as session:
        source = session.get(StrategySource, source_id)
        assert source is not None and source.enabled is False
        assert source.disabled_reason is not None and "ZeroDivisionError" in source.disabled_reason
        (alert,) = list_alerts(session)
        assert alert.kind is AlertKind.STRATEGY_FAILED and "no order placed" in alert.message
    assert run_signal_sources(database, home=home, now=START + 61 * HOUR) == []  # off stays off


def test_a_strategy_whose_file_disappeared_is_switched_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = user_files.write(home / "strategies", "momentum.py", user_files.GOOD)
    database = _database(tmp_path, 60)
    from core.backtest.user_strategies import load_user_strategies

    load_user_strategies(home)
    _enable(database, "momentum", {})
    path.unlink()
    (evaluation,) = run_signal_sources(database, home=home, now=START + 60 * HOUR)
    assert evaluation.outcome.startswith("disabled: unknown strategy 'momentum'")


def test_enable_refuses_bad_input_and_disable_keeps_the_row(tmp_path: Path) -> None:
    database = _database(tmp_path, 30)
    with database.session() as session:
        with pytest.raises(SignalSourceError, match="no instrument 'ETH/EUR'"):
            enable_source(session, "sma-cross", "ETH/EUR", "1h", actor="test")
        with pytest.raises(SignalSourceError, match="position fraction"):
            enable_source(session, "sma-cross", "BTC/EUR", "1h", position_fraction=Decimal("1.5"), actor="test")
        with pytest.raises(SignalSourceError, match="unknown timeframe"):
            enable_source(session, "sma-cross", "BTC/EUR", "7h", actor="test")
    with database.session() as session, pytest.raises(StrategyError, match="sma-cross needs fast < slow"):
        enable_source(session, "sma-cross", "BTC/EUR", "1h", parameters={"fast": 30, "slow": 10}, actor="test")
    with database.session() as session:
        assert session.scalar(select(StrategySource.id)) is None
    source_id = _enable(database)
    with database.session() as session:
        disable_source(session, find_source(session, source_id), actor="test")
    with database.session() as session:
        (view,) = list_sources(session)
        assert view.enabled is False and view.symbol == "BTC/EUR" and view.parameters == PARAMS
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.subject == f"strategy_source:{source_id}"))
