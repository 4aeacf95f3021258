"""A ccxt.pro feed: ``watchTicker``, ``watchOrderBook`` and ``watchOHLCV`` of one exchange's WebSocket.

The exchange's quirks are capability data (:class:`StreamCapabilities`), never branches:

- ``ticker_has_bid_ask``: One Trading's ``MARKET_TICKER`` carries no bid/ask, so best bid and
  ask come from ``watchOrderBook`` (depth 1) and are merged into each quote;
- ``candle_stamp_is_close``: One Trading stamps a ``CANDLESTICK`` with its last millisecond
  (``...:59.999Z``), so the open time is that minus one millisecond, floored to the grid;
- ``rest_last_candle_complete``: One Trading's REST ``candlesticks`` return only complete candles,
  so the last REST candle is kept as it is (the forming one comes from the stream).

Each feed runs an asyncio loop in its own thread. Frames that are no JSON object, or that ccxt
cannot parse, are counted (``FeedStatus.garbage``) and skipped; the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.market.streaming import (
    FeedInstrument,
    FeedStatus,
    StreamCandle,
    StreamQuote,
    StreamSink,
    candle_open_time,
)
from core.timeutil import ms_to_utc, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamCapabilities:
    ticker_has_bid_ask: bool = True
    candle_stamp_is_close: bool = False
    rest_last_candle_complete: bool = False


STREAM_CAPABILITIES: dict[str, StreamCapabilities] = {
    "onetrading": StreamCapabilities(
        ticker_has_bid_ask=False, candle_stamp_is_close=True, rest_last_candle_complete=True
    ),
}


def exchange_streams(exchange_id: str) -> bool:
    """True if ccxt.pro has a WebSocket client for the exchange (``has['ws']``)."""
    import ccxt.pro

    exchange_class = getattr(ccxt.pro, exchange_id, None)
    if exchange_class is None:
        return False
    return bool(exchange_class().has.get("ws"))


def _make_exchange(exchange_id: str, status: FeedStatus, options: dict[str, Any]) -> Any:
    import ccxt.pro

    base = getattr(ccxt.pro, exchange_id)

    class CountingExchange(base):  # type: ignore[misc, valid-type]
        """The ccxt.pro client, counting frames it cannot use instead of failing on them."""

        def handle_message(self, client: Any, message: Any) -> Any:
            if not isinstance(message, dict):
                status.garbage += 1
                return None
            try:
                return super().handle_message(client, message)
            except Exception as error:  # a frame ccxt cannot parse: skipped, counted
                status.garbage += 1
                status.last_error = f"unparseable frame: {type(error).__name__}: {str(error)[:200]}"
                return None

    return CountingExchange({"enableRateLimit": False, "newUpdates": False, **options})


class CcxtProFeed:
    """Streams quotes (ticker + best bid/ask) and forming candles of some instruments from one exchange."""

    def __init__(
        self,
        exchange_id: str,
        instruments: list[FeedInstrument],
        *,
        timeframes: list[str],
        exchange_options: dict[str, Any] | None = None,
        capabilities: StreamCapabilities | None = None,
    ):
        self.exchange_id = exchange_id
        self.source = f"ccxt:{exchange_id}"
        self.name = f"{self.source}:stream"
        self.instruments = instruments
        self.timeframes = timeframes
        self.exchange_options = exchange_options or {}
        self.capabilities = capabilities or STREAM_CAPABILITIES.get(exchange_id, StreamCapabilities())

    def run(self, sink: StreamSink, status: FeedStatus, stop: threading.Event) -> None:
        asyncio.run(self._main(sink, status, stop))

    async def _main(self, sink: StreamSink, status: FeedStatus, stop: threading.Event) -> None:
        exchange = _make_exchange(self.exchange_id, status, self.exchange_options)
        books: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        try:
            await exchange.load_markets()
            tasks: list[asyncio.Task[Any]] = []
            for instrument in self.instruments:
                symbol = instrument.exchange_symbol or instrument.symbol
                tasks.append(asyncio.create_task(self._tickers(exchange, instrument, symbol, books, sink, status)))
                if not self.capabilities.ticker_has_bid_ask:
                    tasks.append(asyncio.create_task(self._books(exchange, symbol, books, status)))
                for timeframe in self.timeframes:
                    tasks.append(
                        asyncio.create_task(self._candles(exchange, instrument, symbol, timeframe, sink, status))
                    )
            stopper: asyncio.Task[Any] = asyncio.create_task(asyncio.to_thread(stop.wait))
            done, _pending = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()  # this run is over either way: release the thread waiting on the stop event
            await exchange.close()

    async def _tickers(
        self,
        exchange: Any,
        instrument: FeedInstrument,
        symbol: str,
        books: dict[str, tuple[Decimal | None, Decimal | None]],
        sink: StreamSink,
        status: FeedStatus,
    ) -> None:
        while True:
            ticker = await exchange.watch_ticker(symbol)
            last = ticker.get("last")
            if last is None:
                status.garbage += 1
                continue
            ts = ms_to_utc(ticker["timestamp"]) if ticker.get("timestamp") else utc_now()
            if self.capabilities.ticker_has_bid_ask:
                bid, ask = _decimal(ticker.get("bid")), _decimal(ticker.get("ask"))
            else:
                bid, ask = books.get(symbol, (None, None))
            try:
                sink.add_quote(self.source, StreamQuote(instrument.instrument_id, ts, Decimal(str(last)), bid, ask))
            except ValueError:
                status.garbage += 1
                continue
            _received(status)

    async def _books(
        self, exchange: Any, symbol: str, books: dict[str, tuple[Decimal | None, Decimal | None]], status: FeedStatus
    ) -> None:
        while True:
            book = await exchange.watch_order_book(symbol, 1)
            bids, asks = book.get("bids") or [], book.get("asks") or []
            books[symbol] = (_decimal(bids[0][0]) if bids else None, _decimal(asks[0][0]) if asks else None)

    async def _candles(
        self,
        exchange: Any,
        instrument: FeedInstrument,
        symbol: str,
        timeframe: str,
        sink: StreamSink,
        status: FeedStatus,
    ) -> None:
        while True:
            rows = await exchange.watch_ohlcv(symbol, timeframe)
            for row in rows[-2:]:  # the forming candle (and the one it may just have closed)
                if len(row) < 6 or any(value is None for value in row[:5]):
                    status.garbage += 1
                    continue
                opened = candle_open_time(
                    ms_to_utc(int(row[0])), timeframe, stamp_is_close=self.capabilities.candle_stamp_is_close
                )
                sink.add_candle(
                    self.source,
                    StreamCandle(
                        instrument.instrument_id,
                        timeframe,
                        opened,
                        float(row[1]),
                        float(row[2]),
                        float(row[3]),
                        float(row[4]),
                        float(row[5] or 0.0),
                    ),
                )
            _received(status)


def _received(status: FeedStatus) -> None:
    status.messages += 1
    status.last_message_at = utc_now()


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number.is_finite() else None
