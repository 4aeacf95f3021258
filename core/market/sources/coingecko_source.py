"""Candles and quotes from CoinGecko (pycoingecko), keyed by the instrument's CoinGecko id.

CoinGecko has no free per-candle OHLCV endpoint with volume, so this adapter builds candles from
what the API offers (its quirks, as data on the adapter):

- ``1h`` and ``1d``: ``/coins/{id}/market_chart/range`` price samples (5-minutely for a one-day
  range, hourly for up to 90 days) aggregated onto the candle grid: open = first sample, high/low
  = sampled extremes, close = last sample. ``1d`` volume is the 24 h volume at the day's last
  sample; ``1h`` candles carry volume 0 (CoinGecko only reports rolling 24 h volume).
- ``30m`` and ``4h``: ``/coins/{id}/ohlc`` (granularity chosen by CoinGecko from ``days``; its
  timestamps are candle *close* times), only for the last day / 30 days, volume 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pandas as pd
import requests
from pycoingecko import CoinGeckoAPI

from core.logging_setup import redact
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
    candles_from_rows,
    empty_candles,
    window_filter,
)
from core.market.timeframes import timeframe_delta
from core.retry import RateLimiter
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE_NAME = "coingecko"
# Which endpoint serves which timeframe, and how many days one request may span.
_SAMPLED_WINDOW_DAYS = {"1h": 1, "1d": 90}
_OHLC_DAYS = {"30m": 1, "4h": 30}
CAPABILITIES = SourceCapabilities(
    timeframes=frozenset({"30m", "1h", "4h", "1d"}),
    candle_limit=24,
    candle_limit_by_timeframe={"1h": 24, "1d": 90, "30m": 48, "4h": 180},
    requests_per_minute=30.0,
    max_history={
        "1h": timedelta(days=365),
        "1d": timedelta(days=365),
        "4h": timedelta(days=30),
        "30m": timedelta(days=1),
    },
    provides_volume=False,
)


class CoinGeckoMarketData:
    """A ``MarketData`` adapter over the CoinGecko API (demo key optional)."""

    name = SOURCE_NAME

    def __init__(
        self,
        *,
        demo_api_key: str | None = None,
        api_base_url: str | None = None,
        timeout_seconds: float = 20.0,
        retry_policy: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
    ):
        self.client = CoinGeckoAPI(demo_api_key=demo_api_key or "", retries=0)
        if api_base_url is not None:
            self.client.api_base_url = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.client.request_timeout = timeout_seconds
        rate = requests_per_minute or CAPABILITIES.requests_per_minute
        self.capabilities = replace(CAPABILITIES, requests_per_minute=rate)
        self._limiter = RateLimiter.per_minute(rate, service=self.name.split(":", 1)[0])
        self._retry_policy = retry_policy or RetryPolicy()

    def _call(self, description: str, call: Callable[[], T]) -> T:
        return call_with_retries(
            call, policy=self._retry_policy, limiter=self._limiter, description=description, translate=_translate
        )

    @staticmethod
    def _coin(instrument: InstrumentRef) -> tuple[str, str]:
        if not instrument.coingecko_id:
            raise UnknownSymbolError(f"{instrument.symbol} has no CoinGecko id (set it with `konsens instruments add`)")
        return instrument.coingecko_id, instrument.quote.lower()

    def fetch_candles(self, instrument: InstrumentRef, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return candles with open times in ``[start, end)`` built from one CoinGecko request."""
        if timeframe not in self.capabilities.timeframes:
            supported = ", ".join(sorted(self.capabilities.timeframes))
            raise UnsupportedTimeframeError(f"coingecko has no {timeframe} candles (supported: {supported})")
        coin, currency = self._coin(instrument)
        if timeframe in _OHLC_DAYS:
            rows = self._call(
                f"coingecko ohlc {coin}",
                lambda: self.client.get_coin_ohlc_by_id(coin, currency, _OHLC_DAYS[timeframe]),
            )
            return window_filter(_ohlc_candles(rows, timeframe), start, end)
        window_end = min(end, start + timedelta(days=_SAMPLED_WINDOW_DAYS[timeframe]))
        answer = self._call(
            f"coingecko market_chart/range {coin}",
            lambda: self.client.get_coin_market_chart_range_by_id(
                coin, currency, int(start.timestamp()), int(window_end.timestamp())
            ),
        )
        return window_filter(_sampled_candles(answer, timeframe), start, end)

    def fetch_quote(self, instrument: InstrumentRef) -> QuoteSnapshot:
        """Return the latest price from ``/simple/price``."""
        coin, currency = self._coin(instrument)
        answer = self._call(
            f"coingecko simple/price {coin}",
            lambda: self.client.get_price(coin, currency, include_last_updated_at=True),
        )
        try:
            entry = answer[coin]
            price = entry[currency]
        except (KeyError, TypeError) as error:
            if isinstance(answer, dict) and not answer:
                raise UnknownSymbolError(f"coingecko does not know the coin id {coin!r}") from error
            raise SourceResponseError(f"coingecko simple/price answer lacks {coin}.{currency}") from error
        updated = entry.get("last_updated_at")
        ts = datetime.fromtimestamp(updated, tz=utc_now().tzinfo) if isinstance(updated, int | float) else utc_now()
        return QuoteSnapshot(ts=ts, last=Decimal(str(price)))

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()


def _ohlc_candles(rows: Any, timeframe: str) -> pd.DataFrame:
    if not isinstance(rows, list) or any(not isinstance(row, list) or len(row) != 5 for row in rows):
        raise SourceResponseError("coingecko ohlc answer is not a list of [time, open, high, low, close]")
    frame = candles_from_rows([[*row, 0.0] for row in rows])
    frame["ts"] = frame["ts"] - pd.Timedelta(timeframe_delta(timeframe))  # CoinGecko stamps the close time
    return frame


def _sampled_candles(answer: Any, timeframe: str) -> pd.DataFrame:
    if not isinstance(answer, dict) or not isinstance(answer.get("prices"), list):
        raise SourceResponseError("coingecko market_chart/range answer has no 'prices' list")
    prices = answer["prices"]
    if not prices:
        return empty_candles()
    samples = candles_from_rows([[row[0], row[1], row[1], row[1], row[1], math.nan] for row in prices])
    samples = samples.set_index("ts")
    rule = pd.Timedelta(timeframe_delta(timeframe))
    grouped = samples["open"].resample(rule, label="left", closed="left", origin="epoch")
    frame = pd.DataFrame(
        {"open": grouped.first(), "high": grouped.max(), "low": grouped.min(), "close": grouped.last()}
    ).dropna(subset=["open"])
    frame["volume"] = 0.0
    volumes = answer.get("total_volumes")
    if timeframe == "1d" and isinstance(volumes, list) and volumes:
        volume_samples = candles_from_rows([[row[0], 0, 0, 0, 0, row[1]] for row in volumes]).set_index("ts")
        last_volume = volume_samples["volume"].resample(rule, label="left", closed="left", origin="epoch").last()
        frame["volume"] = last_volume.reindex(frame.index).fillna(0.0)
    return frame.reset_index().rename(columns={"index": "ts"})[CANDLE_COLUMNS]


def _translate(error: Exception) -> MarketDataError:
    """Map pycoingecko/requests failures onto the Konsens error policy (keys redacted)."""
    response = getattr(error, "response", None)
    context = error.__context__
    if response is None and context is not None:
        response = getattr(context, "response", None)
    status = getattr(response, "status_code", None)
    message = redact(f"coingecko: {type(error).__name__}: {str(error)[:300]}")
    if isinstance(error, requests.Timeout | requests.ConnectionError):
        return SourceUnavailableError(message)
    if status is not None:
        if status in (401, 403):
            return SourceAuthenticationError(f"coingecko refused the API key (HTTP {status})")
        if status == 404:
            return UnknownSymbolError(f"coingecko: not found (HTTP 404): {message}")
        if status == 429 or status >= 500:
            return SourceUnavailableError(f"coingecko HTTP {status}: {message}")
        return MarketDataError(f"coingecko HTTP {status}: {message}")
    if isinstance(error, json.JSONDecodeError | ValueError):
        return SourceResponseError(f"coingecko answered something that is not JSON: {message}")
    return MarketDataError(message)
