"""Fixtures of the market-data tests: an instrument row and candle frames."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.db.engine import Database
from core.market.models import AssetClass, Instrument


@pytest.fixture
def make_instrument() -> Callable[..., int]:
    """Create an instrument in a database and return its id."""

    def create(database: Database, symbol: str = "BTC/EUR", **fields: object) -> int:
        base, _, quote = symbol.partition("/")
        values: dict[str, object] = {
            "symbol": symbol,
            "base": base,
            "quote": quote or "EUR",
            "asset_class": AssetClass.CRYPTO,
            "default_source": "demo",
            "tracked": True,
        }
        values.update(fields)
        with database.session() as session:
            instrument = Instrument(**values)
            session.add(instrument)
            session.flush()
            return instrument.id

    return create


def hourly_frame(count: int, start: datetime = datetime(2024, 1, 1, tzinfo=UTC), price: float = 100.0) -> pd.DataFrame:
    """Return ``count`` valid hourly candles from ``start``."""
    stamps = [start + timedelta(hours=index) for index in range(count)]
    closes = [price + index * 0.25 for index in range(count)]
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(stamps, utc=True),
            "open": [price + index * 0.25 - 0.1 for index in range(count)],
            "high": [close + 1 for close in closes],
            "low": [close - 1.5 for close in closes],
            "close": closes,
            "volume": [10.0 + index for index in range(count)],
        }
    )
