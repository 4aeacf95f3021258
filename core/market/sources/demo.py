"""The demo source: the deterministic synthetic market of ``core.market.demo_source`` as a ``MarketData``.

Only closed hourly candles are served (open time before the current hour), so as time passes the
market worker really collects new candles in demo mode, exactly the ones the seed would have made.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pandas as pd

from core.market.demo_source import DEMO_EPOCH, DEMO_SOURCE, demo_hourly_candles, demo_price_at, demo_spec
from core.market.sources.base import (
    CANDLE_COLUMNS,
    InstrumentRef,
    QuoteSnapshot,
    SourceCapabilities,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    empty_candles,
)
from core.market.timeframes import floor_to_grid
from core.timeutil import utc_now

CAPABILITIES = SourceCapabilities(timeframes=frozenset({"1h"}), candle_limit=24 * 90, requests_per_minute=0)


class DemoMarketData:
    """Serve the synthetic demo market from the walk that starts at ``epoch``; ``now`` can be fixed for tests.

    ``epoch`` is the database's (``core.demo.state.demo_walk_epoch``), so the candles collected
    continue the seeded ones; None is the fixed ``DEMO_EPOCH`` (as for ``DemoTickFeed``).
    """

    name = DEMO_SOURCE
    capabilities = CAPABILITIES

    def __init__(self, *, now: datetime | None = None, epoch: datetime | None = None):
        self._fixed_now = now
        self.epoch = epoch or DEMO_EPOCH

    def _now(self) -> datetime:
        return self._fixed_now or utc_now()

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the closed demo candles with open times in ``[start, end)``."""
        if timeframe not in self.capabilities.timeframes:
            raise UnsupportedTimeframeError(f"the demo source has only 1h candles, not {timeframe}")
        try:
            demo_spec(instrument.symbol)
        except KeyError as error:
            raise UnknownSymbolError(f"{instrument.symbol} is not a demo instrument") from error
        end = min(end, floor_to_grid(self._now(), "1h"))
        if end <= start:
            return empty_candles()
        frame = demo_hourly_candles(instrument.symbol, start, end, epoch=self.epoch)
        if frame.empty:
            return empty_candles()
        return frame[CANDLE_COLUMNS].reset_index(drop=True)

    def fetch_quote(self, instrument: InstrumentRef) -> QuoteSnapshot:
        """Return the demo market's price now (the synthetic walk between candles).

        Stamped with the current time, like a real ticker, so a paper market order placed in demo
        mode fills at the next market-worker pass rather than waiting for the next hourly candle.
        """
        now = self._now()
        try:
            price = demo_price_at(instrument.symbol, now, epoch=self.epoch)
        except (KeyError, ValueError) as error:
            raise UnknownSymbolError(f"no demo prices for {instrument.symbol}: {error}") from error
        return QuoteSnapshot(ts=now, last=Decimal(str(round(price, 6 if price < 10 else 2))))

    def close(self) -> None:
        """Nothing to release."""
