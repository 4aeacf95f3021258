"""A loopback WebSocket server speaking One Trading's stream protocol, as ccxt.pro's client expects it.

The frames follow the examples in ccxt's own ``ccxt/pro/onetrading.py`` (One Trading docs,
https://docs.onetrading.com/websocket/): the client sends ``{"type": "SUBSCRIBE", "channels":
[{"name": "MARKET_TICKER" | "ORDER_BOOK" | "CANDLESTICKS", ...}]}`` and gets ``SUBSCRIPTIONS``;
data comes as ``MARKET_TICKER_UPDATES``, ``ORDER_BOOK_SNAPSHOT`` / ``ORDER_BOOK_UPDATE``,
``CANDLESTICK`` (stamped with the candle's last millisecond) and ``HEARTBEAT`` frames.

The account side (``watchOrders`` / ``watchMyTrades`` / ``watchBalance``): the client sends
``{"type": "AUTHENTICATE", "api_token": ...}`` and gets ``AUTHENTICATED``; then it subscribes to
``ACCOUNT_HISTORY`` (``ACCOUNT_UPDATE`` frames: ``ORDER_CREATED``, ``TRADE_SETTLED``,
``ORDER_CLOSED``, ``ORDER_REJECTED``; ``BALANCES_SNAPSHOT``) and ``TRADING`` (``FILL``, ``DONE``,
``BOOKED``). The builders below copy the examples in the comments of ccxt's
``ccxt/pro/onetrading.py`` (``handle_account_update``, ``handle_trading``,
``handle_balance_snapshot``, ``handle_authentication_message``), field for field.
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
        self.tokens: list[str] = []
        self.authenticated = 0
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
                if message.get("type") == "AUTHENTICATE":
                    self.tokens.append(str(message.get("api_token")))
                    self.authenticated += 1
                    await connection.send(
                        json.dumps(
                            {"channel_name": "SYSTEM", "type": "AUTHENTICATED", "time": "2022-06-24T20:45:25.447488Z"}
                        )
                    )
                    continue
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


# ----------------------------------------------------------------- the account channels


def order_created(
    order_id: str, client_id: str, *, side: str = "BUY", amount: str = "0.1", price: str = "49000"
) -> dict[str, Any]:
    """``ACCOUNT_HISTORY`` / ``ORDER_CREATED`` (ccxt ``handle_account_update``, "order created")."""
    return {
        "account_id": "49302c1a-48dc-423e-b336-bb65baccc7bd",
        "sequence": 7658332018,
        "update": {
            "type": "ORDER_CREATED",
            "activity": "TRADING",
            "account_holder": "43202c1a-48dc-423e-b336-bb65baccc7bd",
            "account_id": "49202c1a-48dc-423e-b336-bb65baccc7bd",
            "order_id": order_id,
            "time": "2022-06-29T04:33:29.661257Z",
            "order": {
                "time_in_force": "GOOD_TILL_CANCELLED",
                "is_post_only": False,
                "order_id": order_id,
                "client_id": client_id,
                "account_holder": "43202c1a-48dc-423e-b336-bb65baccc7bd",
                "account_id": "49302c1a-48dc-423e-b336-bb65baccc7bd",
                "instrument_code": "BTC_EUR",
                "time": "2022-06-29T04:33:29.656896Z",
                "side": side,
                "price": price,
                "amount": amount,
                "filled_amount": "0.0",
                "type": "LIMIT",
            },
            "locked": {"currency_code": "EUR", "amount": "4900", "new_available": "95100", "new_locked": "4900"},
            "id": "26e9c36a-b231-4bb0-a686-aa915a2fc9e6",
            "sequence": 7658332018,
        },
        "channel_name": "ACCOUNT_HISTORY",
        "type": "ACCOUNT_UPDATE",
        "time": "2022-06-29T04:33:29.684517Z",
    }


def trade_settled(trade: dict[str, Any], fee: dict[str, Any], *, order_amount: str) -> dict[str, Any]:
    """``ACCOUNT_HISTORY`` / ``TRADE_SETTLED`` around a trade and fee as the REST order answer carries them.

    Shape: ccxt ``handle_account_update``, "trade settled" (the same ``trade`` / ``fee`` objects as
    ``GET /account/orders/client/{id}``'s ``trades``, so both paths see one trade id).
    """
    return {
        "account_id": "49202c1a-48dc-423e-b336-bb65baccc7bd",
        "sequence": 7658502878,
        "update": {
            "type": "TRADE_SETTLED",
            "activity": "TRADING",
            "account_holder": "49202c1a-48dc-423e-b336-bb65baccc7bd",
            "account_id": "49202c1a-48dc-423e-b336-bb65baccc7bd",
            "time": trade["time"],
            "order_id": trade["order_id"],
            "order_book_sequence": 867965579,
            "filled_amount": trade["amount"],
            "order": {"amount": order_amount, "filled_amount": trade["amount"]},
            "trade": dict(trade),
            "fee": dict(fee),
            "spent": {"currency_code": "EUR", "amount": "4900", "new_available": "95100", "new_locked": "0.0"},
            "credited": {
                "currency_code": "BTC",
                "amount": trade["amount"],
                "new_available": "1.1",
                "new_locked": "0.0",
            },
            "id": "22b40199-2508-4176-8a14-d4785c933444",
            "sequence": 7658502878,
        },
        "channel_name": "ACCOUNT_HISTORY",
        "type": "ACCOUNT_UPDATE",
        "time": "2022-06-29T04:46:12.941837Z",
    }


def order_closed(order_id: str, *, filled_amount: str = "0.0") -> dict[str, Any]:
    """``ACCOUNT_HISTORY`` / ``ORDER_CLOSED`` (ccxt ``handle_account_update``, "order closed").

    ccxt reports it as canceled when nothing was filled.
    """
    return {
        "account_id": "49202c1a-48dc-423e-b336-bb65baccc7bd",
        "sequence": 7658471216,
        "update": {
            "type": "ORDER_CLOSED",
            "activity": "TRADING",
            "account_holder": "49202c1a-48dc-423e-b336-bb65baccc7bd",
            "account_id": "49202c1a-48dc-423e-b336-bb65baccc7bd",
            "time": "2022-06-29T04:43:57.169616Z",
            "order_id": order_id,
            "filled_amount": filled_amount,
            "unlocked": {"currency_code": "EUR", "amount": "4900", "new_available": "100000", "new_locked": "0.0"},
            "order_book_sequence": 867964191,
            "id": "26c5e1d7-65ba-4a11-a661-14c0130ff484",
            "sequence": 7658471216,
        },
        "channel_name": "ACCOUNT_HISTORY",
        "type": "ACCOUNT_UPDATE",
        "time": "2022-06-29T04:43:57.182153Z",
    }


def trading_done(
    order_id: str, *, status: str = "CANCELLED", amount: str = "0.1", price: str = "49000"
) -> dict[str, Any]:
    """``TRADING`` / ``DONE`` (ccxt ``handle_trading``, the second example: a cancelled order)."""
    return {
        "status": status,
        "order_book_sequence": 892928424,
        "amount": amount,
        "side": "BUY",
        "price": price,
        "instrument_code": "BTC_EUR",
        "order_id": order_id,
        "remaining": amount,
        "channel_name": "TRADING",
        "type": "DONE",
        "time": "2022-07-21T12:44:24.267000Z",
    }


def balances_snapshot(balances: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``ACCOUNT_HISTORY`` / ``BALANCES_SNAPSHOT`` (ccxt ``handle_balance_snapshot``): code -> (available, locked)."""
    return {
        "account_id": "b355abb8-aaae-4fae-903c-c60ff74723c6",
        "type": "BALANCES_SNAPSHOT",
        "channel_name": "ACCOUNT_HISTORY",
        "time": "2019-04-01T13:39:17.155Z",
        "balances": [
            {
                "account_id": "b355abb8-aaae-4fae-903c-c60ff74723c6",
                "currency_code": code,
                "change": "0.5",
                "available": available,
                "locked": locked,
                "sequence": index + 1,
                "time": "2019-04-01T13:39:17.155Z",
            }
            for index, (code, (available, locked)) in enumerate(sorted(balances.items()))
        ],
    }
