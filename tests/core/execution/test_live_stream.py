"""Live orders by stream: the executor follows One Trading's account channels through the real ccxt.pro client.

Two loopbacks speak the venue's wire formats: ``fake_onetrading.py`` (REST ``/fast/v1``: orders by
client id with their ``trades``) and ``fake_onetrading_ws.py`` (the WebSocket: ``AUTHENTICATE``,
``ACCOUNT_HISTORY`` ``ACCOUNT_UPDATE`` / ``BALANCES_SNAPSHOT`` and ``TRADING`` ``DONE`` frames,
copied from the examples in ccxt's ``ccxt/pro/onetrading.py``). A stream fill carries the same
trade object as the REST answer (``trade_settled`` wraps ``venue.trades[...]``), as One Trading
reports one trade on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.execution.admin import set_live_mode, store_api_key
from core.execution.enums import OrderSide, OrderType
from core.execution.executor import Executor
from core.execution.live import OneTradingBroker
from core.execution.live_stream import LiveOrderStream
from core.execution.models import Fill, Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.execution.settings import SECRET_ONETRADING_KEY, TradingSettings
from core.portfolio.models import LedgerEntry, LedgerOrigin
from tests.core.execution.fake_onetrading import API_KEY, FakeOneTrading, start_fake_onetrading
from tests.core.execution.stubs import AllowEveryOrder
from tests.core.market.fake_onetrading_ws import (
    HEARTBEAT,
    FakeOneTradingStream,
    balances_snapshot,
    order_closed,
    order_created,
    trade_settled,
    trading_done,
)

D = Decimal


@pytest.fixture
def ws() -> Iterator[FakeOneTradingStream]:
    server = FakeOneTradingStream()
    yield server
    server.close()


@pytest.fixture
def rest() -> Iterator[tuple[FakeOneTrading, str]]:
    server, venue, base_url = start_fake_onetrading()
    venue.mode = "rest"  # orders rest until the test fills them
    yield venue, base_url
    server.shutdown()


@pytest.fixture
def executor(
    database: Database, market: dict[str, int], rest: tuple[FakeOneTrading, str], ws: FakeOneTradingStream
) -> Iterator[Executor]:
    _venue, base_url = rest
    with database.session() as session:
        store_api_key(session, SECRET_ONETRADING_KEY, API_KEY, actor="tester")
        set_live_mode(session, True, actor="tester")
    settings = TradingSettings(
        onetrading_base_url=base_url,
        onetrading_ws_url=ws.url,
        live_timeout_seconds=2.0,
        executor_pass_seconds=0.3,
        live_poll_seconds=3600,  # while the stream is up, REST is asked only at (re)connects
    )
    executor = Executor(
        database,
        settings=settings,
        checks=[AllowEveryOrder()],
        hooks=[],
        live_broker_factory=lambda s, c: OneTradingBroker(
            API_KEY, base_url=base_url, timeout_seconds=2.0, rate_limit=False
        ),
        live_stream_factory=lambda s, c, nudge: LiveOrderStream(
            API_KEY, venue="onetrading", nudge=nudge, base_url=base_url, ws_url=ws.url, max_backoff_seconds=0.5
        ),
    )
    yield executor
    executor.close()


def _until(executor: Executor, check: Callable[[], object], within: float = 30.0) -> None:
    """Run executor passes until ``check`` holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        executor.run_pass()
        if check():
            return
    raise AssertionError(f"condition not reached in time; stream {executor.stream_status()}")


def _place(database: Database, **kwargs: object) -> str:
    with database.session() as session:
        order = place_order(
            session,
            OrderRequest(
                symbol="BTC/EUR",
                side=OrderSide.BUY,
                quantity=D("0.1"),
                order_type=OrderType.LIMIT,
                limit_price=D(49000),
                live=True,
                live_confirmed=True,
                **kwargs,  # type: ignore[arg-type]
            ),
            actor="tester",
        )
        return order.client_order_id


def _order(database: Database, client_id: str) -> Order:
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None
        session.expunge(order)
        return order


def _fills(database: Database, client_id: str) -> tuple[int, int]:
    """(fill rows, live ledger entries) of an order."""
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None
        fills = session.scalar(select(func.count()).select_from(Fill).where(Fill.order_id == order.id))
        ledger = session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.order_ref == client_id, LedgerEntry.origin == LedgerOrigin.LIVE)
        )
        return int(fills or 0), int(ledger or 0)


def _connected(executor: Executor, ws: FakeOneTradingStream) -> Callable[[], bool]:
    def check() -> bool:
        status = executor.stream_status()
        return bool(status and status["connected"] and ws.subscribed("ACCOUNT_HISTORY") and ws.subscribed("TRADING"))

    return check


def test_a_fill_seen_by_stream_and_by_rest_is_stored_once_and_a_dropped_stream_is_reconciled_over_rest(
    database: Database, executor: Executor, rest: tuple[FakeOneTrading, str], ws: FakeOneTradingStream
) -> None:
    venue, _ = rest
    client_id = _place(database)
    _until(executor, lambda: _order(database, client_id).status is OrderStatus.OPEN)
    _until(executor, _connected(executor, ws))
    assert ws.tokens == [API_KEY]  # authenticated with the live key
    venue_order_id = _order(database, client_id).venue_order_id
    assert venue_order_id == venue.orders[client_id]["order_id"]

    # A partial fill at the venue: seen on the stream (TRADE_SETTLED) and recorded at once.
    venue.fill(client_id, D("0.04"))
    first_trade = venue.trades[client_id][0]
    ws.send(trade_settled(first_trade["trade"], first_trade["fee"], order_amount="0.1"))
    _until(executor, lambda: _fills(database, client_id) == (1, 1))
    assert _order(database, client_id).status is OrderStatus.PARTIALLY_FILLED
    assert executor.stats.stream_fills >= 1 or _fills(database, client_id) == (1, 1)

    # The connection drops; meanwhile the rest of the order fills at the venue.
    ws.drop()
    venue.fill(client_id)
    # While the stream is down and after it is back, REST reconciliation finds both trades: the first
    # (already recorded from the stream) is not stored again.
    _until(executor, lambda: _order(database, client_id).status is OrderStatus.FILLED)
    assert _fills(database, client_id) == (2, 2)
    _until(executor, lambda: (executor.stream_status() or {}).get("connects", 0) >= 2)
    status = executor.stream_status()
    assert status is not None and status["reconnects"] >= 1
    assert _fills(database, client_id) == (2, 2)

    # The second trade arrives late on the new stream as well: stored once.
    _until(executor, _connected(executor, ws))
    second_trade = venue.trades[client_id][1]
    ws.send(trade_settled(second_trade["trade"], second_trade["fee"], order_amount="0.1"))
    _until(executor, lambda: (executor.stream_status() or {}).get("fills", 0) >= 2)
    executor.run_pass()
    assert _fills(database, client_id) == (2, 2)
    with database.session() as session:
        order = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert order is not None and order.filled_quantity == D("0.1")
        fill_ids = set(session.scalars(select(Fill.fill_id).where(Fill.order_id == order.id)))
    assert fill_ids == {f"onetrading-{t['trade']['trade_id']}" for t in venue.trades[client_id]}


def test_cancels_seen_on_the_stream_cancel_the_orders_without_asking_rest(
    database: Database, executor: Executor, rest: tuple[FakeOneTrading, str], ws: FakeOneTradingStream
) -> None:
    venue, _ = rest
    first = _place(database)
    second = _place(database)
    _until(
        executor,
        lambda: {_order(database, first).status, _order(database, second).status} == {OrderStatus.OPEN},
    )
    _until(executor, _connected(executor, ws))
    first_id = venue.orders[first]["order_id"]
    second_id = venue.orders[second]["order_id"]

    # TRADING / DONE with status CANCELLED (cancelled at the venue, e.g. in its own UI).
    ws.send(trading_done(first_id))
    _until(executor, lambda: _order(database, first).status is OrderStatus.CANCELLED)
    # ACCOUNT_HISTORY: ORDER_CREATED, then ORDER_CLOSED with nothing filled (ccxt: canceled).
    ws.send(order_created(second_id, second))
    ws.send(order_closed(second_id))
    _until(executor, lambda: _order(database, second).status is OrderStatus.CANCELLED)
    # REST still says OPEN for both: the cancels came from the stream alone.
    assert venue.orders[first]["status"] == venue.orders[second]["status"] == "OPEN"
    assert _fills(database, first) == _fills(database, second) == (0, 0)


def test_garbage_frames_are_counted_and_skipped_and_the_stream_goes_on(
    database: Database, executor: Executor, rest: tuple[FakeOneTrading, str], ws: FakeOneTradingStream
) -> None:
    venue, _ = rest
    client_id = _place(database)
    _until(executor, lambda: _order(database, client_id).status is OrderStatus.OPEN)
    _until(executor, _connected(executor, ws))
    ws.send("this is no JSON")
    ws.send("[1, 2, 3]")
    ws.send({"type": "ACCOUNT_UPDATE", "channel_name": "ACCOUNT_HISTORY", "update": "not an object"})
    ws.send(HEARTBEAT)
    ws.send(balances_snapshot({"EUR": ("95100.0", "4900.0"), "BTC": ("1.0", "0.0")}))
    venue.fill(client_id)
    trade = venue.trades[client_id][0]
    ws.send(trade_settled(trade["trade"], trade["fee"], order_amount="0.1"))
    _until(executor, lambda: _order(database, client_id).status is OrderStatus.FILLED)
    status = executor.stream_status()
    assert status is not None
    assert status["garbage"] >= 2
    assert status["connects"] == 1 and status["reconnects"] == 0  # the connection survived the garbage
    # The snapshot, then the trade's ``spent`` / ``credited`` new balances (watchBalance).
    assert status["balances"] == {"BTC": "1.1", "EUR": "95100.0"}
    assert _fills(database, client_id) == (1, 1)
