"""A loopback WebSocket server speaking One Trading's stream protocol, as ccxt.pro's client expects it.

The frames follow the examples in ccxt's own ``ccxt/pro/onetrading.py`` (One Trading docs,
https://docs.onetrading.com/websocket/): the client sends ``{"type": "SUBSCRIBE", "channels":
[{"name": "MARKET_TICKER" | "ORDER_BOOK" | "CANDLESTICKS", ...}]}`` and gets ``SUBSCRIPTIONS``;
data comes as ``MARKET_TICKER_UPDATES``, ``ORDER_BOOK_SNAPSHOT`` / ``ORDER_BOOK_UPDATE``,
``CANDLESTICK`` (stamped with the candle's last millisecond) and ``HEARTBEAT`` frames.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve


class FakeOneTradingStream:
    """Run the server in a thread; the test pushes frames with ``send`` and drops connections with ``drop``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.connections: set[ServerConnection] = set()
        self.subscriptions: list[dict[str, Any]] = []
        self.connects = 0
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, connection: ServerConnection) -> None:
        self.connections.add(connection)
        self.connects += 1
        try:
            async for raw in connection:
                message = json.loads(raw)
                self.subscriptions.append(message)
                if message.get("type") in ("SUBSCRIBE", "UPDATE_SUBSCRIPTION"):
                    await connection.send(
                        json.dumps(
                            {
                                "channels": message.get("channels", []),
                                "type": "SUBSCRIPTIONS",
                                "time": "2024-05-08T12:00:00.000000Z",
                            }
                        )
                    )
        except websockets.ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)

    def subscribed(self, channel: str) -> bool:
        return any(
            any(item.get("name") == channel for item in message.get("channels", [])) for message in self.subscriptions
        )

    def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a dict as JSON, a str as it is) to every connected client."""
        text = frame if isinstance(frame, str) else json.dumps(frame)

        async def broadcast() -> None:
            for connection in list(self.connections):
                await connection.send(text)

        asyncio.run_coroutine_threadsafe(broadcast(), self.loop).result(5)

    def drop(self) -> None:
        """Close every connection abruptly (as a network failure would)."""

        async def close_all() -> None:
            for connection in list(self.connections):
                connection.transport.abort()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


def ticker(last: str, time: str, instrument: str = "BTC_EUR") -> dict[str, Any]:
    return {
        "ticker_updates": [
            {
                "instrument": instrument,
                "last_price": last,
                "price_change": "12.5",
                "price_change_percentage": "0.02",
                "high": "61000",
                "low": "59000",
                "volume": "1234.5",
            }
        ],
        "channel_name": "MARKET_TICKER",
        "type": "MARKET_TICKER_UPDATES",
        "time": time,
    }


def book_snapshot(bid: str, ask: str, time: str, instrument: str = "BTC_EUR") -> dict[str, Any]:
    return {
        "instrument_code": instrument,
        "bids": [[bid, "0.5"]],
        "asks": [[ask, "0.7"]],
        "channel_name": "ORDER_BOOK",
        "type": "ORDER_BOOK_SNAPSHOT",
        "time": time,
    }


def candlestick(
    last_ms_time: str, open_: str, high: str, low: str, close: str, instrument: str = "BTC_EUR"
) -> dict[str, Any]:
    return {
        "instrument_code": instrument,
        "granularity": {"unit": "MINUTES", "period": 1},
        "high": high,
        "low": low,
        "open": open_,
        "close": close,
        "volume": "3645.2768448",
        "last_sequence": 2275511,
        "channel_name": "CANDLESTICKS",
        "type": "CANDLESTICK",
        "time": last_ms_time,
    }


HEARTBEAT = {"subscription": "SYSTEM", "channel_name": "SYSTEM", "type": "HEARTBEAT", "time": "2024-05-08T12:00:30Z"}
