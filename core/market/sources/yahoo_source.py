"""Candles and quotes from Yahoo Finance through yfinance's HTTP layer (cookie, crumb, chart API).

yfinance has no base-URL option; it is given a ``requests``/``curl_cffi`` session, which tests
redirect to a loopback server. The adapter uses yfinance's ``YfData`` for the cookie + crumb
chain and requests ``/v8/finance/chart/{symbol}`` itself, so that HTTP status codes map onto the
Konsens error policy instead of being logged and swallowed. It keeps a private ``YfData``
(yfinance's is a process-wide singleton), so its session and crumb are its own.

Yahoo's quirks, as data on this adapter: daily and weekly bars are stamped at the session start
in the exchange's time zone and are re-stamped to 00:00 UTC of their exchange date; hourly bars
of US stocks start at :30, so ``1h`` candles are built from 15-minute bars on the UTC hour grid;
intraday history reaches back only 60 days; rows Yahoo sends with every price missing (no trade)
are dropped, partly missing rows are passed on and quarantined by validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from yfinance.data import YfData, _is_transient_error
from yfinance.exceptions import YFRateLimitError

from core.market.sources.base import (
    CANDLE_COLUMNS,
    InstrumentRef,
    MarketDataError,
    QuoteSnapshot,
    RetryPolicy,
    SourceAuthenticationError,
    SourceCapabilities,
    SourceResponseError,
    SourceUnavailableError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
    call_with_retries,
    empty_candles,
    window_filter,
)
from core.market.timeframes import timeframe_delta
from core.retry import RateLimiter
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE_NAME = "yahoo"
CHART_URL = "https://query2.finance.yahoo.com/v8/finance/chart/{symbol}"
# Our timeframe -> (Yahoo interval requested, re-stamp to exchange date, resample to our grid)
_INTERVALS: dict[str, tuple[str, bool, bool]] = {
    "5m": ("5m", False, False),
    "15m": ("15m", False, False),
    "1h": ("15m", False, True),
    "1d": ("1d", True, False),
    "1w": ("1wk", True, False),
}
_INTRADAY_HISTORY = timedelta(days=60)
CAPABILITIES = SourceCapabilities(
    timeframes=frozenset(_INTERVALS),
    candle_limit=5000,
    candle_limit_by_timeframe={"5m": 2000, "15m": 2000, "1h": 1000, "1d": 5000, "1w": 1000},
    requests_per_minute=60.0,
    max_history={"5m": _INTRADAY_HISTORY, "15m": _INTRADAY_HISTORY, "1h": _INTRADAY_HISTORY},
)


class YahooMarketData:
    """A ``MarketData`` adapter over Yahoo Finance's chart API (no key)."""

    name = SOURCE_NAME

    def __init__(
        self,
        *,
        session: Any = None,
        timeout_seconds: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
    ):
        if session is None:
            from yfinance._http import new_session

            session = new_session()
        self.session = session
        self._data = YfData.__new__(YfData)  # a private instance, not yfinance's process-wide singleton
        YfData.__init__(self._data, session=session)
        self._timeout = timeout_seconds
        rate = requests_per_minute or CAPABILITIES.requests_per_minute
        self.capabilities = replace(CAPABILITIES, requests_per_minute=rate)
        self._limiter = RateLimiter.per_minute(rate, service=self.name.split(":", 1)[0])
        self._retry_policy = retry_policy or RetryPolicy()

    def _chart(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        def request() -> dict[str, Any]:
            response = self._data.get(CHART_URL.format(symbol=symbol), params=params, timeout=self._timeout)
            return _checked_chart(response, symbol)

        return call_with_retries(
            request,
            policy=self._retry_policy,
            limiter=self._limiter,
            description=f"yahoo chart {symbol}",
            translate=_translate,
        )

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return candles with open times in ``[start, end)`` from one chart request."""
        if timeframe not in _INTERVALS:
            supported = ", ".join(sorted(self.capabilities.timeframes))
            raise UnsupportedTimeframeError(f"yahoo has no {timeframe} candles (supported: {supported})")
        interval, restamp_to_date, resample = _INTERVALS[timeframe]
        symbol = instrument.yahoo_symbol or instrument.symbol
        params = {
            "period1": int(start.timestamp()),
            "period2": int(end.timestamp()),
            "interval": interval,
            "includePrePost": "false",
            "events": "div,splits",
        }
        result = self._chart(symbol, params)
        frame = _candles_from_chart(result)
        if restamp_to_date and not frame.empty:
            zone = (result.get("meta") or {}).get("exchangeTimezoneName") or "UTC"
            local_dates = frame["ts"].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
            frame["ts"] = local_dates.dt.tz_localize(UTC)
        if resample and not frame.empty:
            frame = _resample(frame, timeframe)
        return window_filter(frame, start, end)

    def fetch_quote(self, instrument: InstrumentRef) -> QuoteSnapshot:
        """Return the regular-market price from the chart metadata."""
        symbol = instrument.yahoo_symbol or instrument.symbol
        meta = self._chart(symbol, {"range": "1d", "interval": "1d"}).get("meta") or {}
        price = meta.get("regularMarketPrice")
        if not isinstance(price, int | float):
            raise SourceResponseError(f"yahoo chart of {symbol} has no regularMarketPrice")
        moment = meta.get("regularMarketTime")
        ts = datetime.fromtimestamp(moment, tz=UTC) if isinstance(moment, int | float) else utc_now()
        return QuoteSnapshot(ts=ts, last=Decimal(str(price)))

    def close(self) -> None:
        """Close the HTTP session."""
        close: Callable[[], None] | None = getattr(self.session, "close", None)
        if close is not None:
            close()


def _translate(error: Exception) -> MarketDataError:
    """Map a failed yfinance request onto the Konsens error policy."""
    if isinstance(error, YFRateLimitError):
        return SourceUnavailableError("yahoo: rate limited (HTTP 429)")
    if _is_transient_error(error):
        return SourceUnavailableError(f"yahoo: {type(error).__name__}: {error}")
    return SourceResponseError(f"yahoo: {type(error).__name__}: {error}")


def checked_yahoo_answer(response: Any, symbol: str, sections: tuple[str, ...]) -> tuple[Any, str]:
    """Return ``(decoded JSON or None, error description)`` of a Yahoo answer; raise by its HTTP status.

    ``sections`` are the top-level objects whose ``error`` describes a failure (``chart``,
    ``quoteSummary``, ``finance``). Shared by the candle and the fundamentals clients.
    """
    status = int(response.status_code)
    try:
        payload = response.json()
    except Exception:
        payload = None
    description = _error_description(payload, sections)
    if status in (401, 403):
        raise SourceAuthenticationError(f"yahoo refused the request for {symbol} (HTTP {status}: {description})")
    if status == 404:
        raise UnknownSymbolError(f"yahoo does not know {symbol!r} ({description})")
    if status == 429 or status >= 500:
        raise SourceUnavailableError(f"yahoo HTTP {status} for {symbol}")
    if status >= 400:
        raise MarketDataError(f"yahoo HTTP {status} for {symbol}: {description}")
    return payload, description


def _checked_chart(response: Any, symbol: str) -> dict[str, Any]:
    payload, description = checked_yahoo_answer(response, symbol, ("chart", "finance"))
    if not isinstance(payload, dict):
        raise SourceResponseError(f"yahoo answered something that is not JSON for {symbol}")
    chart = payload.get("chart")
    if not isinstance(chart, dict):
        raise SourceResponseError(f"yahoo answer for {symbol} has no 'chart' object")
    if chart.get("error"):
        raise UnknownSymbolError(f"yahoo: {symbol}: {description}")
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise SourceResponseError(f"yahoo chart answer for {symbol} has no result")
    return results[0]


def _error_description(payload: Any, sections: tuple[str, ...] = ("chart", "finance")) -> str:
    if isinstance(payload, dict):
        for key in sections:
            error = (payload.get(key) or {}).get("error") if isinstance(payload.get(key), dict) else None
            if isinstance(error, dict):
                return str(error.get("description") or error.get("code") or error)
    return "no details"


def _candles_from_chart(result: dict[str, Any]) -> pd.DataFrame:
    timestamps = result.get("timestamp")
    if not timestamps:
        return empty_candles()
    try:
        quote = result["indicators"]["quote"][0]
        columns = {name: np.array(quote[name], dtype=float) for name in ("open", "high", "low", "close", "volume")}
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise SourceResponseError(f"yahoo chart answer has no usable indicators.quote: {error}") from error
    if any(len(values) != len(timestamps) for values in columns.values()):
        raise SourceResponseError("yahoo chart answer has arrays of different lengths")
    frame = pd.DataFrame(columns)
    frame.insert(0, "ts", pd.to_datetime(np.array(timestamps, dtype="int64"), unit="s", utc=True))
    no_trade = frame[["open", "high", "low", "close"]].isna().all(axis=1)
    return frame.loc[~no_trade, CANDLE_COLUMNS].reset_index(drop=True)


def _resample(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    indexed = frame.set_index("ts")
    rule = pd.Timedelta(timeframe_delta(timeframe))
    aggregated = indexed.resample(rule, label="left", closed="left", origin="epoch").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    aggregated = aggregated.dropna(subset=["open", "close"], how="all")
    return aggregated.reset_index()[CANDLE_COLUMNS]
