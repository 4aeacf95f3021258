"""Historical replay through the real paper executor and worker loop, checked against the backtest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.backtest.compare import first_difference
from core.backtest.engine import BacktestConfig, run_event_loop
from core.backtest.replay import ReplayConfig, ReplayResult
from core.backtest.replay import replay as replay_with_worker
from core.backtest.service import load_bars
from core.backtest.strategies import build_strategy
from core.db.engine import Database
from core.db.migrate import upgrade_database
from core.demo.seed import _store_candles
from core.execution.models import Order
from core.market.demo_source import demo_hourly_candles
from core.market.models import AssetClass, Instrument
from core.risk.settings import save_limits
from core.system.models import WorkerHeartbeat
from core.timeutil import simulated_clock, utc_now
from workers.executor import build_worker

START = datetime(2025, 6, 1, tzinfo=UTC)
HOURS = 160
REPLAY_QUANTITY_TOLERANCE = 1e-6  # the executor rounds quantities down to 8 decimals


def replay(*args: Any, **kwargs: Any) -> ReplayResult:
    """Replay through the real executor worker loop (core does not import workers; the caller passes it)."""
    return replay_with_worker(*args, executor_worker=build_worker, **kwargs)


@pytest.fixture
def source(tmp_path: Path) -> Database:
    """A database with BTC/EUR hourly candles (the demo market generator)."""
    database = Database(f"sqlite:///{tmp_path / 'source.db'}")
    upgrade_database(database)
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        _store_candles(session, instrument.id, demo_hourly_candles("BTC/EUR", START, START + timedelta(hours=HOURS)))
    return database


def _target(tmp_path: Path, name: str) -> Database:
    return Database(f"sqlite:///{tmp_path / name}")


def _backtest(source: Database, config: BacktestConfig) -> list:
    with source.session() as session:
        bars = load_bars(session, "BTC/EUR", "1h")
    return run_event_loop(build_strategy("sma-cross", {"fast": 4, "slow": 12}), bars, config).trades


def test_simulated_clock_replaces_utc_now_only_inside() -> None:
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    with simulated_clock(lambda: moment):
        assert utc_now() == moment
    assert utc_now() > moment + timedelta(days=365)


def test_replay_through_the_executor_makes_the_backtests_trades(source: Database, tmp_path: Path) -> None:
    target = _target(tmp_path, "replay.db")
    result = replay(source, target, build_strategy("sma-cross", {"fast": 4, "slow": 12}), "BTC/EUR", "1h")
    # The paper broker's defaults: taker fee 25 bp (One Trading), slippage 5 bp.
    assert result.fee_rate == Decimal("0.0025") and result.slippage == Decimal("0.0005")
    expected = _backtest(source, BacktestConfig(fee_bps=25.0, slippage_bps=5.0, position_fraction=0.45))
    assert len(result.trades) >= 4
    assert first_difference(expected, result.trades, quantity_tolerance=REPLAY_QUANTITY_TOLERANCE) is None
    assert result.orders_by_status == {"filled": sum(2 if not trade.is_open else 1 for trade in result.trades)}
    with target.session() as session:
        orders = list(session.scalars(select(Order).order_by(Order.id)))
        heartbeat = session.get(WorkerHeartbeat, "executor")
    # Every order was created by the strategy at a close and filled by the executor at the next open.
    assert all(order.created_by == "replay" for order in orders)
    assert all(order.created_at.minute == 59 and order.average_fill_price is not None for order in orders)
    assert heartbeat is not None and heartbeat.last_beat_at < START + timedelta(hours=HOURS + 1)  # simulated time
    assert heartbeat.passes > HOURS  # one worker pass per candle at least
    with target.session() as session:
        from core.execution.accounting import asset_balance

        assert asset_balance(session, "paper", "EUR") == result.final_cash


def test_attached_stop_loss_and_take_profit_are_carried_out_by_exit_plans(source: Database, tmp_path: Path) -> None:
    config = ReplayConfig(stop_loss_pct=Decimal("0.5"), take_profit_pct=Decimal("0.8"))
    result = replay(
        source,
        _target(tmp_path, "exits.db"),
        build_strategy("sma-cross", {"fast": 4, "slow": 12}),
        "BTC/EUR",
        "1h",
        config=config,
    )
    expected = _backtest(
        source,
        BacktestConfig(fee_bps=25.0, slippage_bps=5.0, position_fraction=0.45, stop_loss=0.005, take_profit=0.008),
    )
    reasons = {trade.exit_reason.value for trade in result.trades if trade.exit_reason is not None}
    assert {"stop_loss", "take_profit"} & reasons
    assert first_difference(expected, result.trades, quantity_tolerance=REPLAY_QUANTITY_TOLERANCE) is None


def test_risk_limits_of_the_source_refuse_orders_in_the_replay(source: Database, tmp_path: Path) -> None:
    with source.session() as session:
        save_limits(session, {"max_instrument_exposure_pct": Decimal("0.2")}, actor="test")
    result = replay(
        source, _target(tmp_path, "limited.db"), build_strategy("sma-cross", {"fast": 4, "slow": 12}), "BTC/EUR", "1h"
    )
    assert result.trades == []
    assert result.orders_by_status.get("denied", 0) >= 2
    assert {rejection["rule"] for rejection in result.rejections} == {"max_instrument_exposure"}
    assert result.final_cash == Decimal("10000")


def test_replay_refuses_a_target_that_already_traded(source: Database, tmp_path: Path) -> None:
    target = _target(tmp_path, "used.db")
    replay(
        source,
        target,
        build_strategy("sma-cross", {"fast": 4, "slow": 12}),
        "BTC/EUR",
        "1h",
        end=START + timedelta(hours=40),
    )
    with pytest.raises(ValueError, match="already holds orders"):
        replay(source, target, build_strategy("sma-cross", {"fast": 4, "slow": 12}), "BTC/EUR", "1h")


def _scripted(script: dict[int, object]):
    """A strategy giving the signals of a script {bar index: signal}."""

    from core.backtest.strategy import Indicator, Signal, Strategy

    class Scripted(Strategy):
        name = "scripted"
        title = "Scripted"

        def indicators(self) -> dict[str, Indicator]:
            return {}

        def on_bar(self, bar: Any) -> Signal | None:
            return script.get(bar.index)  # type: ignore[return-value]

    return Scripted()


def test_an_exit_plan_ends_when_its_position_is_closed_by_a_signal(tmp_path: Path) -> None:
    from core.backtest.strategy import Signal

    source = Database(f"sqlite:///{tmp_path / 'scripted.db'}")
    upgrade_database(source)
    rows = [(100, 101, 99, 100)] * 5 + [(96, 97, 95.5, 96)] * 3 + [(96, 96.5, 94.5, 96)] + [(96, 97, 95.5, 96)] * 3
    with source.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        import pandas as pd

        frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], dtype=float)
        frame["volume"] = 1.0
        frame["ts"] = pd.date_range(START, periods=len(rows), freq="1h", tz="UTC")
        _store_candles(session, instrument.id, frame)
    # Buy (stop-loss 5 % → 95), sell by signal, buy again at 96 (stop 91.2); a later low of 94.5
    # must not stop out the second position.
    strategy = _scripted({1: Signal.BUY, 3: Signal.SELL, 6: Signal.BUY})
    result = replay(
        source, _target(tmp_path, "t.db"), strategy, "BTC/EUR", "1h", config=ReplayConfig(stop_loss_pct=Decimal(5))
    )
    assert [trade.exit_reason for trade in result.trades][1:] == [None]
