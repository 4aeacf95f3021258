from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from core.ai.models import ConsensusRecord
from core.ai.models import Signal as ConsensusSignal
from core.backtest.compare import first_difference
from core.backtest.consensus import consensus_columns, with_consensus
from core.backtest.data import load_stored_series
from core.backtest.engine import BacktestConfig, run_event_loop, run_fast
from core.backtest.strategies import build_strategy, needs_consensus
from core.backtest.strategy import StrategyError
from core.db.engine import Database
from core.demo.seed import _store_candles
from core.market.demo_source import demo_hourly_candles
from core.market.models import AssetClass, Instrument

from .conftest import real_series

START = datetime(2025, 3, 1, tzinfo=UTC)


def _record(
    instrument_id: int, at: datetime, decision: str, agreement: float, flagged: bool = False
) -> ConsensusRecord:
    return ConsensusRecord(
        instrument_id=instrument_id,
        decided_at=at,
        as_of=at,
        decision=ConsensusSignal(decision),
        leaning=ConsensusSignal(decision),
        score=0.6 if decision == "buy" else -0.6 if decision == "sell" else 0.0,
        agreement=agreement,
        flagged=flagged,
        context_hash="x" * 64,
        valid_opinions=3,
        failed_opinions=0,
        dissenters=[],
        failures={},
        weights={},
        parameters={},
    )


def _seed(session: Session) -> int:
    instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
    session.add(instrument)
    session.flush()
    _store_candles(session, instrument.id, demo_hourly_candles("BTC/EUR", START, START + timedelta(days=10)))
    records = [
        _record(instrument.id, START + timedelta(hours=10, minutes=30), "buy", 0.8),
        _record(instrument.id, START + timedelta(hours=40), "hold", 0.9),
        _record(instrument.id, START + timedelta(hours=60, minutes=5), "sell", 0.7),
        _record(instrument.id, START + timedelta(hours=100), "buy", 0.3),  # too little agreement
        _record(instrument.id, START + timedelta(hours=120), "buy", 0.9, flagged=True),  # flagged
        _record(instrument.id, START + timedelta(hours=150), "buy", 0.6),
    ]
    session.add_all(records)
    return instrument.id


def test_consensus_decisions_are_replayed_at_the_first_close_after_them(database: Database) -> None:
    with database.session() as session:
        _seed(session)
    with database.session() as session:
        bars = with_consensus(session, load_stored_series(session, "BTC/EUR", "1h"))
    decisions = bars.extras["consensus_decision"]
    # Bar 9 opens 09:00 and closes 10:00, before the 10:30 decision; bar 10 closes 11:00, after it.
    assert pd.isna(decisions[9]) and decisions[10] == 1.0
    strategy = build_strategy("ai-consensus", {"min_agreement": 0.5})
    assert needs_consensus(strategy) and not needs_consensus(build_strategy("sma-cross"))
    log = run_event_loop(strategy, bars, BacktestConfig(fee_bps=10.0))
    assert [(trade.entry_index, trade.exit_index) for trade in log.trades] == [(11, 61), (150, None)]
    assert log.trades[0].entry_price == bars.open[11]
    assert first_difference(log.trades, run_fast(strategy, bars, BacktestConfig(fee_bps=10.0)).trades) is None
    # Following flagged decisions too buys at hour 120 (after the low-agreement one is skipped).
    permissive = build_strategy("ai-consensus", {"min_agreement": 0.5, "use_flagged": 1})
    entries = [trade.entry_index for trade in run_event_loop(permissive, bars, BacktestConfig()).trades]
    assert entries == [11, 120]


def test_the_consensus_strategy_needs_stored_candles() -> None:
    bars = real_series("SPY_1d.csv")
    with pytest.raises(StrategyError, match="consensus_decision"):
        run_event_loop(build_strategy("ai-consensus"), bars, BacktestConfig())
    with pytest.raises(ValueError, match="stored candles"):
        consensus_columns(None, bars)  # type: ignore[arg-type]
