"""The ``MarketData`` protocol every market-data adapter implements, and what adapters share.

An adapter turns one provider's API into candle frames and quote snapshots. Everything a
venue does differently (how many candles one request returns, how fast it may be called, which
timeframes it has, how far back it reaches) is *data* in its :class:`SourceCapabilities`; the
collection service reads those numbers and never branches on a venue's name.

Error policy (what the caller does with each failure):

- :class:`SourceUnavailableError` (timeouts, connection errors, HTTP 429 and 5xx) is transient:
  the adapter retries it with exponential backoff (``core.retry``); if it persists it reaches the caller, and the
  market worker turns it into a ``TransientError`` (the pass is retried later).
- Every other :class:`MarketDataError` (bad credentials, unknown symbol, unsupported timeframe,
  a garbage answer) needs a human and is not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import numpy as np
import pandas as pd

from core import retry
from core.errors import KonsensError, PermanentError, TransientError
from core.retry import RateLimiter

if TYPE_CHECKING:
    from core.market.models import Instrument

logger = logging.getLogger(__name__)

T = TypeVar("T")

CANDLE_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


class MarketDataError(KonsensError):
    """A market-data failure that a retry will not cure."""


class SourceUnavailableError(MarketDataError, TransientError):
    """The source did not answer usefully now (timeout, connection error, HTTP 429 or 5xx): retry later."""


class SourceAuthenticationError(MarketDataError, PermanentError):
    """The source refused our credentials (HTTP 401/403, invalid API key)."""


class UnknownSymbolError(MarketDataError, PermanentError):
    """The source does not know the instrument."""


class UnsupportedTimeframeError(MarketDataError, PermanentError):
    """The source has no candles of the requested timeframe."""


class SourceResponseError(MarketDataError, PermanentError):
    """The source answered with something that is not the documented format (garbage JSON...)."""


@dataclass(frozen=True)
class SourceCapabilities:
    """What a source can do: the numbers the collection service plans its requests with."""

    timeframes: frozenset[str]
    candle_limit: int
    requests_per_minute: float
    max_history: dict[str, timedelta] | None = None
    provides_volume: bool = True
    candle_limit_by_timeframe: dict[str, int] | None = None

    def page_size(self, timeframe: str) -> int:
        """Return how many candles of ``timeframe`` one request may return."""
        if self.candle_limit_by_timeframe and timeframe in self.candle_limit_by_timeframe:
            return self.candle_limit_by_timeframe[timeframe]
        return self.candle_limit

    def history_limit(self, timeframe: str) -> timedelta | None:
        """Return how far back from now ``timeframe`` candles reach at this source (None: unlimited)."""
        if self.max_history is None:
            return None
        return self.max_history.get(timeframe)


@dataclass(frozen=True)
class InstrumentRef:
    """The identifiers of one instrument that adapters need (decoupled from the ORM row)."""

    symbol: str
    base: str
    quote: str
    asset_class: str = "crypto"
    exchange_symbol: str | None = None
    coingecko_id: str | None = None
    yahoo_symbol: str | None = None

    @classmethod
    def from_instrument(cls, instrument: Instrument) -> InstrumentRef:
        """Build the reference of an ``Instrument`` row."""
        return cls(
            symbol=instrument.symbol,
            base=instrument.base,
            quote=instrument.quote,
            asset_class=str(
                instrument.asset_class.value if hasattr(instrument.asset_class, "value") else instrument.asset_class
            ),
            exchange_symbol=instrument.exchange_symbol,
            coingecko_id=instrument.coingecko_id,
            yahoo_symbol=instrument.yahoo_symbol,
        )


@dataclass(frozen=True)
class QuoteSnapshot:
    """The latest price of an instrument at one source."""

    ts: datetime
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None


@runtime_checkable
class MarketData(Protocol):
    """A source of candles and quotes.

    Required: ``name`` (the source name stored with every candle, e.g. ``ccxt:onetrading``),
    ``capabilities``, ``fetch_candles`` (one page: at most ``capabilities.page_size(timeframe)``
    candles), ``fetch_quote`` and ``close``.
    """

    name: str
    capabilities: SourceCapabilities

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return candles with open times in ``[start, end)`` as a frame of :data:`CANDLE_COLUMNS`.

        ``ts`` is the aware UTC open time; prices and volume are floats as the provider sent them
        (validation happens before storing, not here). The window spans at most
        ``capabilities.page_size(timeframe)`` candles.
        """
        ...

    def fetch_quote(self, instrument: InstrumentRef) -> QuoteSnapshot:
        """Return the latest price snapshot of ``instrument``."""
        ...

    def close(self) -> None:
        """Release network resources."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient source errors are retried."""

    attempts: int = 4
    initial_wait_seconds: float = 1.0
    max_wait_seconds: float = 30.0


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    limiter: RateLimiter | None = None,
    description: str = "",
    translate: Callable[[Exception], MarketDataError] | None = None,
) -> T:
    """Run ``call`` (rate-limited), retrying :class:`SourceUnavailableError` with exponential backoff.

    With ``translate``, any other exception than a :class:`MarketDataError` is mapped through it
    (the adapter's error policy) before the retry decision.
    """

    def attempt() -> T:
        if limiter is not None:
            limiter.acquire()
        try:
            return call()
        except MarketDataError:
            raise
        except Exception as error:
            if translate is None:
                raise
            raise translate(error) from error

    return retry.call_with_retries(
        attempt,
        attempts=policy.attempts,
        base_seconds=policy.initial_wait_seconds,
        max_seconds=policy.max_wait_seconds,
        description=description or "request",
    )


def empty_candles() -> pd.DataFrame:
    """Return an empty candle frame with the standard columns and dtypes."""
    frame = pd.DataFrame({column: pd.Series(dtype=float) for column in CANDLE_COLUMNS[1:]})
    frame.insert(0, "ts", pd.Series(pd.DatetimeIndex([], tz="UTC")))
    return frame


def candles_from_rows(rows: Iterable[Sequence[object]], *, unit: str = "ms") -> pd.DataFrame:
    """Build a candle frame from ``[time, open, high, low, close, volume]`` rows (epoch ``unit``).

    Missing numbers (None) become NaN, so that validation quarantines them rather than this
    function guessing.
    """
    materialised = list(rows)
    if not materialised:
        return empty_candles()
    try:
        array = np.array(
            [[np.nan if value is None else value for value in row[:6]] for row in materialised], dtype=float
        )
    except (TypeError, ValueError) as error:
        raise SourceResponseError(f"candle values are not numbers: {error}") from error
    if array.ndim != 2 or array.shape[1] != 6:
        raise SourceResponseError("candle rows do not have six fields (time, open, high, low, close, volume)")
    frame = pd.DataFrame(array[:, 1:], columns=CANDLE_COLUMNS[1:])
    frame.insert(0, "ts", pd.to_datetime(array[:, 0].astype("int64"), unit=unit, utc=True))
    return frame


def window_filter(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Keep the candles whose open time lies in ``[start, end)``."""
    if frame.empty:
        return frame
    mask = (frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(end))
    return frame.loc[mask].reset_index(drop=True)
