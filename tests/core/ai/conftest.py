"""Fixtures of the AI consensus tests: a context snapshot from the demo market, fast call limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.ai.config import CallLimits
from core.ai.context import ContextSnapshot, snapshot_from_frame
from core.market.demo_source import demo_hourly_candles


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
