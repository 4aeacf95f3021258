"""The live account stream: One Trading's ``ACCOUNT_HISTORY`` / ``TRADING`` channels through ccxt.pro.

The executor (the one process that owns order state) runs one :class:`LiveOrderStream` per live
key in a thread of its own: ``watchOrders`` (``TRADING`` channel: ``DONE``, ``BOOKED``, ``FILL``
...; and the ``ACCOUNT_HISTORY`` order updates ``ORDER_CLOSED``, ``ORDER_REJECTED``, ...),
``watchMyTrades`` (``ACCOUNT_HISTORY`` ``TRADE_SETTLED``: the fill with its fee) and
``watchBalance`` (``BALANCES_SNAPSHOT`` and the balance parts of every account update). What
arrives is turned into :class:`StreamFill` / :class:`StreamOrderUpdate` events in a queue and the
executor is nudged (``core.db.wakeup.Nudge``); the executor records them in its own thread, with
the same code as a REST answer (``Executor._record_state``), so a fill is stored once whichever
way it came: its id is ``<venue>-<trade id>`` from the stream and from REST alike, and
``apply_fill`` is idempotent on it.

The stream is never trusted alone: at every (re)connect ``needs_reconciliation`` is set and the
executor asks the venue over REST about every live order that is working (the safety net for
anything missed while the connection was down). Frames that are no JSON object or that ccxt
cannot parse are counted (``status.garbage``) and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.db.wakeup import Nudge
from core.execution.broker import VenueFill
from core.timeutil import ms_to_utc, utc_now

logger = logging.getLogger(__name__)

STREAM_STATUS_SETTING = "trading.live_stream"
SEEN_LIMIT = 5000  # trade ids remembered per stream session (ccxt's caches hold 1000)


@dataclass(frozen=True)
class StreamFill:
    """A fill seen on the stream (``TRADE_SETTLED``), with the venue's order id."""

    venue_order_id: str | None
    symbol: str | None
    fill: VenueFill


@dataclass(frozen=True)
class StreamOrderUpdate:
    """An order's new state as the stream reports it (ccxt's unified status: open, closed, canceled, ...)."""

    venue_order_id: str | None
    client_order_id: str | None
    status: str | None
    filled: Decimal | None
    at: datetime


StreamEvent = StreamFill | StreamOrderUpdate


@dataclass
class LiveStreamStatus:
    """What the System page and the executor's heartbeat show about the account stream."""

    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    garbage: int = 0
    fills: int = 0
    order_updates: int = 0
    last_error: str | None = None
    last_message_at: datetime | None = None
    balances: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "messages": self.messages,
            "garbage": self.garbage,
            "fills": self.fills,
            "order_updates": self.order_updates,
            "last_error": self.last_error,
            "last_message_at": self.last_message_at.isoformat() if self.last_message_at else None,
            "balances": {code: str(value) for code, value in sorted(self.balances.items())},
        }


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number.is_finite() else None


def fill_from_trade(trade: dict[str, Any], venue: str) -> VenueFill:
    """A ccxt trade structure as a :class:`VenueFill` (the same id and fields as the REST path)."""
    fee = trade.get("fee") or {}
    timestamp = trade.get("timestamp")
    return VenueFill(
        fill_id=f"{venue}-{trade['id']}",
        ts=ms_to_utc(int(timestamp)) if timestamp else utc_now(),
        quantity=_decimal(trade.get("amount")) or Decimal(0),
        price=_decimal(trade.get("price")) or Decimal(0),
        fee=_decimal(fee.get("cost")) or Decimal(0),
        fee_asset=str(fee.get("currency") or "EUR"),
    )


def _make_exchange(status: LiveStreamStatus, options: dict[str, Any]) -> Any:
    import ccxt.pro

    class CountingOneTrading(ccxt.pro.onetrading):
        """ccxt.pro's One Trading client, counting frames it cannot use instead of failing on them."""

        def handle_message(self, client: Any, message: Any) -> Any:
            if not isinstance(message, dict):
                status.garbage += 1
                return None
            if message.get("error") is not None:  # the venue's ERROR frame: ccxt raises and rejects the watchers
                status.last_error = f"venue error frame: {str(message.get('error'))[:200]}"
                return super().handle_message(client, message)
            try:
                result = super().handle_message(client, message)
            except Exception as error:
                status.garbage += 1
                status.last_error = f"unparseable frame: {type(error).__name__}: {str(error)[:200]}"
                return None
            status.messages += 1
            status.last_message_at = utc_now()
            return result

    # newUpdates False: every watch returns ccxt's whole cache; what is new is found by its own signature.
    return CountingOneTrading({"enableRateLimit": False, "newUpdates": False, **options})


class LiveOrderStream:
    """Runs the account stream in a thread; the executor drains :meth:`events` (see the module docstring)."""

    def __init__(
        self,
        api_key: str,
        *,
        venue: str,
        nudge: Nudge | None = None,
        base_url: str | None = None,
        ws_url: str | None = None,
        max_backoff_seconds: float = 60.0,
    ):
        options: dict[str, Any] = {"apiKey": api_key}
        urls: dict[str, str] = {}
        if base_url:
            urls["public"] = urls["private"] = base_url.rstrip("/")
        if ws_url:
            urls["ws"] = ws_url
        if urls:
            options["urls"] = {"api": urls}
        self._options = options
        self.venue = venue
        self.nudge = nudge
        self.max_backoff_seconds = max_backoff_seconds
        self.status = LiveStreamStatus()
        self._events: deque[StreamEvent] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._needs_reconciliation = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exchange: Any = None
        self._order_seen: dict[str, tuple[Any, ...]] = {}
        self._trades_seen: dict[str, None] = {}  # insertion-ordered, bounded

    # -- used by the executor

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="live-order-stream", daemon=True)
            self._thread.start()

    def events(self) -> list[StreamEvent]:
        """Take every event received since the last call, oldest first."""
        with self._lock:
            items = list(self._events)
            self._events.clear()
        return items

    def take_reconciliation(self) -> bool:
        """True once after each (re)connect: the executor then checks the working live orders over REST."""
        with self._lock:
            due, self._needs_reconciliation = self._needs_reconciliation, False
        return due

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        loop, exchange = self._loop, self._exchange
        if loop is not None and exchange is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(exchange.close(), loop)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- the stream thread

    def _push(self, event: StreamEvent) -> None:
        with self._lock:
            self._events.append(event)
        if self.nudge is not None:
            self.nudge.set()

    def _connected(self) -> None:
        self.status.connected = True
        self.status.connects += 1
        with self._lock:
            self._needs_reconciliation = True  # anything may have happened while no stream was up
        if self.nudge is not None:
            self.nudge.set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                asyncio.run(self._session())
                failures = 0
            except asyncio.CancelledError:  # stop() closed the client under the running watchers
                if self._stop.is_set():
                    break
                failures += 1
            except Exception as error:
                failures += 1
                self.status.last_error = f"{type(error).__name__}: {str(error)[:300]}"
                logger.warning("Live order stream dropped: %s", self.status.last_error)
            self.status.connected = False
            if self._stop.is_set():
                break
            self.status.reconnects += 1
            self._stop.wait(min(self.max_backoff_seconds, 0.2 * 2 ** min(failures, 9)))

    async def _session(self) -> None:
        self._loop = asyncio.get_running_loop()
        exchange = self._exchange = _make_exchange(self.status, self._options)
        try:
            await exchange.load_markets()
            await exchange.authenticate()
            self._connected()
            tasks = [
                asyncio.create_task(self._orders(exchange)),
                asyncio.create_task(self._trades(exchange)),
                asyncio.create_task(self._balances(exchange)),
            ]
            # A polling task, not a thread waiting on the event: asyncio.run would wait for that thread.
            stopper: asyncio.Task[Any] = asyncio.create_task(self._stopped())
            done, _pending = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            if not stopper.done():
                stopper.cancel()
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self._exchange = None
            try:
                await exchange.close()
            except Exception as error:  # closing a broken client may fail; it is gone anyway
                logger.debug("closing the stream client: %s", error)

    async def _stopped(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(0.2)

    async def _orders(self, exchange: Any) -> None:
        while True:
            orders = await exchange.watch_orders(None, None, None, {"channel": "TRADING"})
            for order in orders:
                info = order.get("info") or {}
                key = order.get("id")
                signature = (order.get("status"), order.get("timestamp"), info.get("filled_amount"), info.get("type"))
                if key is None or self._order_seen.get(key) == signature:
                    continue  # already reported (ccxt returns its whole cache)
                self._order_seen[key] = signature
                self.status.order_updates += 1
                self._push(
                    StreamOrderUpdate(
                        venue_order_id=order.get("id"),
                        client_order_id=order.get("clientOrderId") or info.get("client_id"),
                        status=order.get("status"),
                        filled=_decimal(info.get("filled_amount")),
                        at=ms_to_utc(int(order["timestamp"])) if order.get("timestamp") else utc_now(),
                    )
                )

    async def _trades(self, exchange: Any) -> None:
        while True:
            trades = await exchange.watch_my_trades()
            for trade in trades:
                if trade.get("id") is None:
                    self.status.garbage += 1
                    continue
                if trade["id"] in self._trades_seen:
                    continue
                self._trades_seen[trade["id"]] = None
                while len(self._trades_seen) > SEEN_LIMIT:
                    self._trades_seen.pop(next(iter(self._trades_seen)))
                self.status.fills += 1
                self._push(StreamFill(trade.get("order"), trade.get("symbol"), fill_from_trade(trade, self.venue)))

    async def _balances(self, exchange: Any) -> None:
        while True:
            balance = await exchange.watch_balance()
            free = balance.get("free") or {}
            self.status.balances = {
                str(code): number for code, value in free.items() if (number := _decimal(value)) is not None
            }
