"""Fixtures of the AI consensus tests: a context snapshot from the demo market, fast call limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from core.ai.config import CallLimits
from core.ai.context import ContextSnapshot, snapshot_from_frame
from core.market.demo_source import demo_hourly_candles
from core.market.models import AssetClass, Candle, Instrument

# The documented JSON of a consensus (``konsens analyze --json``, ``AnalysisSummary.as_json``):
# the shape of issue 3, plus the audit fields of issue 15 per opinion (cost, checked figures, weight).
SUMMARY_FIELDS = {"symbol", "decision", "score", "agreement", "flagged", "opinions"}
OPINION_FIELDS = {
    "analyst",
    "model",
    "signal",
    "confidence",
    "rationale",
    "ok",
    "error",
    "latency_ms",
    "cost_eur",
    "claims_checked",
    "claims_false",
    "false_claims",
    "weight",
}


def demo_frame(symbol: str = "BTC/EUR", end: datetime | None = None) -> pd.DataFrame:
    """Return 20 days of demo hourly candles ending at ``end``, indexed by time."""
    end = end or datetime(2025, 6, 1, tzinfo=UTC)
    frame = demo_hourly_candles(symbol, end - timedelta(days=20), end)
    return frame.set_index("ts")


@pytest.fixture
def snapshot() -> ContextSnapshot:
    """A snapshot of BTC/EUR from the demo market (no database needed)."""
    return snapshot_from_frame(
        symbol="BTC/EUR", instrument_id=1, frame=demo_frame(), timeframe="1h", headlines=[], position=None
    )


@pytest.fixture
def fast_limits() -> CallLimits:
    """Call limits that keep the tests fast: 0.5 s timeout, 3 attempts, 10 ms backoff, one content retry."""
    return CallLimits(
        timeout_seconds=0.5, max_attempts=3, retry_base_seconds=0.01, content_retries=1, deadline_seconds=5
    )


def seed_market(
    session: Session, symbol: str = "BTC/EUR", *, end: datetime | None = None, days: int = 20
) -> Instrument:
    """Store a demo instrument with ``days`` of hourly demo candles ending at ``end``."""
    from decimal import Decimal

    from core.db.upsert import bulk_upsert
    from core.market.demo_source import demo_spec

    end = end or datetime(2025, 6, 1, tzinfo=UTC)
    spec = demo_spec(symbol)
    instrument = Instrument(
        symbol=symbol,
        base=spec.base,
        quote=spec.quote,
        asset_class=AssetClass(spec.asset_class),
        name=spec.name,
        default_source="demo",
        tracked=True,
        is_demo=True,
    )
    session.add(instrument)
    session.flush()
    frame = demo_hourly_candles(symbol, end - timedelta(days=days), end)
    rows = [
        {
            "instrument_id": instrument.id,
            "source": "demo",
            "timeframe": "1h",
            "ts": ts.to_pydatetime(),
            "open": Decimal(str(o)),
            "high": Decimal(str(h)),
            "low": Decimal(str(lo)),
            "close": Decimal(str(c)),
            "volume": Decimal(str(v)),
        }
        for ts, o, h, lo, c, v in frame[["ts", "open", "high", "low", "close", "volume"]].itertuples(index=False)
    ]
    bulk_upsert(session, Candle.__table__, rows, conflict_columns=["instrument_id", "source", "timeframe", "ts"])  # type: ignore[arg-type]
    return instrument
