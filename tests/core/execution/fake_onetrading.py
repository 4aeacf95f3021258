"""A loopback One Trading (``/fast/v1``) speaking its real JSON shapes, including its error answers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

API_KEY = "test-onetrading-key"
INSTRUMENTS = [
    {
        "state": "ACTIVE",
        "base": {"code": "BTC", "precision": 8},
        "quote": {"code": "EUR", "precision": 2},
        "amount_precision": 5,
        "market_precision": 2,
        "min_size": "10.0",
        "min_price": "1000",
        "max_price": "10000000",
        "id": "BTC_EUR",
        "type": "SPOT",
    }
]
CURRENCIES = [{"code": "BTC", "precision": 8}, {"code": "EUR", "precision": 2}]


@dataclass
class FakeOneTrading:
    """State of the fake venue; set ``mode`` to make the next create-order answer an error."""

    price: Decimal = Decimal("50000")
    balances: dict[str, Decimal] = field(default_factory=lambda: {"EUR": Decimal("100000"), "BTC": Decimal("1")})
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by client id
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    create_requests: Counter[str] = field(default_factory=Counter)
    create_bodies: list[dict[str, Any]] = field(default_factory=list)
    # normal | insufficient_funds | ratelimit | timeout_after_accept | rest
    # | internal_error (HTTP 500 {"error": "INTERNAL_ERROR"}, not placed)
    # | internal_error_after_accept (placed and filled, then the same HTTP 500 answer)
    mode: str = "normal"
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        client_id = body.get("client_id") or str(uuid.uuid4())
        with self.lock:
            self.create_requests[client_id] += 1
            self.create_bodies.append(dict(body))
            if self.mode == "internal_error":
                return 500, {"error": "INTERNAL_ERROR"}
            if self.mode == "ratelimit":
                return 429, {"error": "RATELIMIT"}
            if self.mode == "insufficient_funds":
                return 422, {"error": "INSUFFICIENT_FUNDS"}
            if client_id in self.orders:
                return 409, {"error": "DUPLICATE_CLIENT_ID"}
            order_id = str(uuid.uuid4())
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            order = {
                "order_id": order_id,
                "client_id": client_id,
                "account_id": "a4c699f6-338d-4a26-941f-8f9853bfc4b9",
                "instrument_code": body["instrument_code"],
                "time": now,
                "side": body["side"],
                "price": body.get("price", str(self.price)),
                "amount": body["amount"],
                "filled_amount": "0.0",
                "type": body["type"],
                "time_in_force": body.get("time_in_force", "GOOD_TILL_CANCELLED"),
                "status": "OPEN",
                "sequence": len(self.orders) + 1,
            }
            self.orders[client_id] = order
            self.trades[client_id] = []
            if body["type"] == "MARKET" and self.mode != "rest":
                self._fill(client_id, Decimal(body["amount"]), self.price)
        if self.mode == "timeout_after_accept":
            time.sleep(self.delay_seconds)
        if self.mode == "internal_error_after_accept":
            return 500, {"error": "INTERNAL_ERROR"}
        return 201, {k: v for k, v in order.items() if k != "status"}

    def _fill(self, client_id: str, amount: Decimal, price: Decimal) -> None:
        order = self.orders[client_id]
        is_buy = order["side"] == "BUY"
        fee = (amount * Decimal("0.0015")) if is_buy else (amount * price * Decimal("0.0015"))
        trade = {
            "fee": {
                "fee_amount": str(fee),
                "fee_currency": "BTC" if is_buy else "EUR",
                "fee_percentage": "0.15",
                "fee_group_id": "default",
                "fee_type": "TAKER",
                "running_trading_volume": "0.0",
            },
            "trade": {
                "trade_id": str(uuid.uuid4()),
                "order_id": order["order_id"],
                "account_id": order["account_id"],
                "amount": str(amount),
                "side": order["side"],
                "instrument_code": order["instrument_code"],
                "price": str(price),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "sequence": 48670 + len(self.trades[client_id]),
            },
        }
        self.trades[client_id].append(trade)
        filled = Decimal(order["filled_amount"]) + amount
        order["filled_amount"] = str(filled)
        order["average_price"] = str(price)
        order["status"] = "FILLED_FULLY" if filled >= Decimal(order["amount"]) else "FILLED"

    def fill(self, client_id: str, amount: Decimal | None = None) -> None:
        """Fill a resting order (the market moved)."""
        with self.lock:
            order = self.orders[client_id]
            remaining = Decimal(order["amount"]) - Decimal(order["filled_amount"])
            self._fill(client_id, amount or remaining, Decimal(order["price"]))


class _Handler(BaseHTTPRequestHandler):
    venue: FakeOneTrading

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._send(401, {"error": "INVALID_APIKEY"})
            return False
        return True

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/fast/v1/currencies":
            return self._send(200, CURRENCIES)
        if path == "/fast/v1/instruments":
            return self._send(200, INSTRUMENTS)
        if not self._authorised():
            return None
        if path == "/fast/v1/account/balances":
            return self._send(
                200,
                {
                    "account_id": "4b95934f-55f1-460c-a525-bd5afc0cf071",
                    "balances": [
                        {
                            "account_id": "4b95934f",
                            "currency_code": code,
                            "change": "0",
                            "available": str(value),
                            "locked": "0.0",
                            "sequence": 1,
                            "time": "2020-07-01T10:57:32.959Z",
                        }
                        for code, value in self.venue.balances.items()
                    ],
                },
            )
        if path.startswith("/fast/v1/account/orders/client/"):
            client_id = path.rsplit("/", 1)[1]
            with self.venue.lock:
                order = self.venue.orders.get(client_id)
                if order is None:
                    return self._send(404, {"error": "ORDER_NOT_FOUND"})
                return self._send(200, {"order": dict(order), "trades": list(self.venue.trades[client_id])})
        return self._send(404, {"error": "NOT_FOUND"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if urlparse(self.path).path != "/fast/v1/account/orders":
            return self._send(404, {"error": "NOT_FOUND"})
        status, payload = self.venue.create(body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(status, payload)

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        path = urlparse(self.path).path
        client_id = path.rsplit("/", 1)[1]
        with self.venue.lock:
            order = self.venue.orders.get(client_id)
            if order is None:
                return self._send(404, {"error": "ORDER_NOT_FOUND"})
            if order["status"] in ("OPEN", "FILLED"):
                order["status"] = "FILLED_CLOSED" if order["status"] == "FILLED" else "CANCELLED"
        self.send_response(204)
        self.end_headers()


def start_fake_onetrading() -> tuple[ThreadingHTTPServer, FakeOneTrading, str]:
    venue = FakeOneTrading()
    handler = type("Handler", (_Handler,), {"venue": venue})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, venue, f"http://127.0.0.1:{server.server_address[1]}/fast"
