"""A deterministic synthetic market: the data source of demo mode.

Prices follow a seeded random walk from an epoch, so the candle at a given time is always the
same, whether it is produced by the demo seed or, later, by the market worker collecting "new"
candles from this source. The demo seed starts the walk a fixed time before the hour it is
anchored to (``anchored_epoch``) and stores that epoch with the demo data (``demo.walk_epoch``,
read back by ``core.demo.state.demo_walk_epoch``): every demo database then shows the same market
relative to its seed, whatever day it was seeded on. Databases seeded before the epoch was
stored keep the original fixed epoch ``DEMO_EPOCH``. Nothing here pretends to be real data: instruments seeded from
it are flagged ``is_demo`` and the dashboard shows a banner.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

DEMO_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # the walk's start where no seed stored one (and for tests)
# How long before its seed's anchor the walk starts: the 400 days of seeded history and two months
# before them, so the seeded window begins on a walk that has left its start price.
DEMO_WALK_LEAD = timedelta(days=460)
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoInstrumentSpec:
    symbol: str
    base: str
    quote: str
    asset_class: str
    name: str
    start_price: float
    annual_volatility: float
    annual_drift: float
    market_hours_only: bool = False  # stocks: hourly bars 14:00-21:00 UTC on weekdays


DEMO_INSTRUMENTS: tuple[DemoInstrumentSpec, ...] = (
    DemoInstrumentSpec("BTC/EUR", "BTC", "EUR", "crypto", "Bitcoin", 62_000.0, 0.50, 0.08),
    DemoInstrumentSpec("ETH/EUR", "ETH", "EUR", "crypto", "Ethereum", 2_600.0, 0.65, 0.04),
    DemoInstrumentSpec("SOL/EUR", "SOL", "EUR", "crypto", "Solana", 120.0, 0.85, 0.05),
    DemoInstrumentSpec("AAPL", "AAPL", "EUR", "stock", "Apple Inc. (demo, priced in EUR)", 180.0, 0.25, 0.06, True),
)

HOURS_PER_YEAR = 24 * 365
_SUBSTEPS = 6


def anchored_epoch(anchor: datetime) -> datetime:
    """The walk epoch of a demo seed anchored at ``anchor``: ``DEMO_WALK_LEAD`` before its hour."""
    return anchor.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - DEMO_WALK_LEAD


def demo_spec(symbol: str) -> DemoInstrumentSpec:
    """Return the demo spec of ``symbol`` or raise ``KeyError``."""
    for spec in DEMO_INSTRUMENTS:
        if spec.symbol == symbol:
            return spec
    raise KeyError(f"{symbol} is not a demo instrument")


def _seed_for(symbol: str, stream: str = "") -> int:
    """Return the seed of one random stream of ``symbol`` (the price walk, or e.g. ``"volume"``)."""
    label = symbol if not stream else f"{symbol}:{stream}"
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big")


def _mean_reverting_path(spec: DemoInstrumentSpec, shocks: np.ndarray) -> np.ndarray:
    """Return ``len(shocks) + 1`` prices: log price mean-reverting to a slowly cycling level.

    Mean reversion keeps the synthetic market in a plausible band however far it runs; the
    cycle (bull and bear phases of a few months) makes charts and strategies instructive.
    """
    steps = len(shocks)
    dt = 1.0 / (HOURS_PER_YEAR * _SUBSTEPS)
    reversion_per_step = 2.0 * dt
    noise = spec.annual_volatility * np.sqrt(dt) * shocks
    phase = np.arange(steps) * dt * 2 * np.pi / 0.75  # one cycle every nine months
    level = np.log(spec.start_price) + 0.35 * np.sin(phase) + spec.annual_drift * np.arange(steps) * dt
    log_price = np.empty(steps + 1)
    current = np.log(spec.start_price)
    log_price[0] = current
    for index in range(steps):
        current += reversion_per_step * (level[index] - current) + noise[index]
        log_price[index + 1] = current
    return np.exp(log_price)


def demo_price_at(symbol: str, when: datetime, *, epoch: datetime = DEMO_EPOCH) -> float:
    """Return the demo price at ``when``: the walk's last 10-minute step at or before it.

    Consistent with ``demo_hourly_candles`` (an hour's open and close are steps of the same walk),
    so a quote taken between candles lies on the path the next candle will show.
    """
    spec = demo_spec(symbol)
    step = int((when.astimezone(UTC) - epoch) / (timedelta(hours=1) / _SUBSTEPS))
    if step < 0:
        raise ValueError(f"no demo prices before {epoch.isoformat()}")
    rng = np.random.default_rng(_seed_for(spec.symbol))
    shocks = rng.standard_normal(step)
    return float(_mean_reverting_path(spec, shocks)[step])


@functools.lru_cache(maxsize=64)
def _step_prices(symbol: str, step: int) -> tuple[float, float]:
    """The walk's prices at ``step`` and ``step + 1`` (one walk computation for a whole step)."""
    spec = demo_spec(symbol)
    rng = np.random.default_rng(_seed_for(spec.symbol))
    path = _mean_reverting_path(spec, rng.standard_normal(step + 1))
    return float(path[step]), float(path[step + 1])


def demo_tick_price(symbol: str, when: datetime, *, epoch: datetime = DEMO_EPOCH) -> float:
    """The demo price for a streamed tick at ``when``: on the walk, moving between its 10-minute steps.

    At each step's start it equals ``demo_price_at``; in between it moves linearly to the next
    step's price, so ticks stay within the candle the walk makes. The walk is computed once per
    step and instrument (cached), so ticking costs microseconds, not a walk from the epoch.
    """
    step_length = timedelta(hours=1) / _SUBSTEPS
    offset = when.astimezone(UTC) - epoch
    step = int(offset / step_length)
    if step < 0:
        raise ValueError(f"no demo prices before {epoch.isoformat()}")
    fraction = (offset - step * step_length) / step_length
    start, end = _step_prices(demo_spec(symbol).symbol, step)
    return start + (end - start) * fraction


def demo_hourly_candles(symbol: str, start: datetime, end: datetime, *, epoch: datetime = DEMO_EPOCH) -> pd.DataFrame:
    """Return hourly candles of a demo instrument with open times in ``[start, end)``.

    Columns: ``ts`` (aware UTC), ``open``, ``high``, ``low``, ``close``, ``volume`` (floats).
    Every field of an hour depends only on that hour, never on the window asked for: the walk and
    the volumes are two separate random streams, each drawn from the epoch, and the n-th value of
    a stream is the same however many values are drawn after it.
    """
    spec = demo_spec(symbol)
    epoch = epoch.astimezone(UTC)
    start = max(start.astimezone(UTC), epoch)
    end = end.astimezone(UTC)
    if end <= start:
        return pd.DataFrame(columns=["ts", "open", "high", "low", "close", "volume"])
    total_hours = int((end - epoch) / timedelta(hours=1))
    rng = np.random.default_rng(_seed_for(spec.symbol))
    steps = total_hours * _SUBSTEPS
    shocks = rng.standard_normal(steps)
    path = _mean_reverting_path(spec, shocks)
    opens = path[0:steps:_SUBSTEPS]
    closes = path[_SUBSTEPS : steps + 1 : _SUBSTEPS]
    blocks = path[:steps].reshape(total_hours, _SUBSTEPS)
    highs = np.maximum(blocks.max(axis=1), closes)
    lows = np.minimum(blocks.min(axis=1), closes)
    volume_scale = 1_000_000.0 / spec.start_price
    volume_rng = np.random.default_rng(_seed_for(spec.symbol, "volume"))
    volumes = (
        volume_scale
        * volume_rng.lognormal(mean=0.0, sigma=0.5, size=total_hours)
        * (1 + 5 * np.abs(shocks[::_SUBSTEPS]))
    )
    times = pd.date_range(epoch, periods=total_hours, freq="h", tz="UTC")
    frame = pd.DataFrame({"ts": times, "open": opens, "high": highs, "low": lows, "close": closes, "volume": volumes})
    frame = frame[(frame["ts"] >= start) & (frame["ts"] < end)]
    if spec.market_hours_only:
        minutes = frame["ts"].dt.hour * 60 + frame["ts"].dt.minute
        frame = frame[(frame["ts"].dt.day_of_week < 5) & (minutes >= 14 * 60) & (minutes < 21 * 60)]
    for column in ("open", "high", "low", "close"):
        frame[column] = frame[column].round(6 if spec.start_price < 10 else 2)
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    frame["volume"] = frame["volume"].round(6)
    return frame.reset_index(drop=True)
