"""The executor waits for changes instead of polling, and a missed notification is caught by the safety poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from core.db.engine import Database
from core.db.wakeup import ChangeWaiter
from core.execution.enums import OrderSide, OrderType
from core.execution.executor import Executor
from core.execution.models import Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.execution.settings import TradingSettings
from tests.core.execution.conftest import add_quote
from tests.core.execution.stubs import AllowEveryOrder

D = Decimal


class DeafWaiter:
    """A waiter that never hears a change (every notification missed): only timeouts end its waits."""

    def __init__(self) -> None:
        self.waits = 0

    def wait(self, timeout: float, stop_event: threading.Event | None = None, nudge: object = None) -> set[str]:
        self.waits += 1
        if stop_event is not None:
            stop_event.wait(timeout)
        else:
            time.sleep(timeout)
        return set()

    def close(self) -> None:
        pass


def _executor(database: Database, **settings: object) -> Executor:
    values: dict[str, object] = {
        "paper_slippage": D("0.001"),
        "executor_pass_seconds": 30.0,
        "paper_price_max_age_seconds": 60,
        "executor_safety_poll_seconds": 30.0,
        **settings,
    }
    return Executor(database, settings=TradingSettings(**values), checks=[AllowEveryOrder()], hooks=[])  # type: ignore[arg-type]


def _run_in_background(executor: Executor) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=lambda: executor.run_pass(stop_event=stop), daemon=True)
    thread.start()
    return thread, stop


def _place(database: Database) -> str:
    with database.session() as session:
        return place_order(
            session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.01")), actor="tester"
        ).client_order_id


def _wait_for_fill(database: Database, client_id: str, within: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < within:
        status = database.run(
            lambda session: session.scalar(select(Order.status).where(Order.client_order_id == client_id))
        )
        if status is OrderStatus.FILLED:
            return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError(f"order {client_id} not filled within {within} s")


def test_an_idle_executor_picks_up_a_new_order_within_a_fraction_of_a_second(
    database: Database, market: dict[str, int]
) -> None:
    executor = _executor(database)
    thread, stop = _run_in_background(executor)
    try:
        time.sleep(0.5)  # idle: waiting in the change waiter
        wakeups_idle = executor.wakeups
        client_id = _place(database)
        assert _wait_for_fill(database, client_id, within=5.0) < 2.0  # the safety poll is 30 s away
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()
    # Idle for half a second, the executor woke at most a handful of times (no 20 ms query loop).
    assert wakeups_idle <= 3


def test_a_missed_notification_is_caught_by_the_safety_poll(database: Database, market: dict[str, int]) -> None:
    executor = _executor(database, executor_safety_poll_seconds=0.5)
    deaf = DeafWaiter()
    executor._change_waiter = deaf  # every change is missed
    thread, stop = _run_in_background(executor)
    try:
        time.sleep(0.2)
        client_id = _place(database)
        waited = _wait_for_fill(database, client_id, within=5.0)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert waited < 3.0  # the 0.5 s safety poll found it (the notification never came)
    assert deaf.waits >= 1


def test_postgres_order_written_with_triggers_off_is_found_by_the_safety_poll(
    database: Database, market: dict[str, int]
) -> None:
    if database.kind != "postgresql":
        pytest.skip("NOTIFY triggers exist on PostgreSQL only")
    postgres_database = database
    executor = _executor(postgres_database, executor_safety_poll_seconds=2.0)
    thread, stop = _run_in_background(executor)
    try:
        time.sleep(0.3)
        with postgres_database.session() as session:
            # Triggers off for this transaction: no NOTIFY is sent, as if it were lost.
            session.execute(text("SET LOCAL session_replication_role = replica"))
            client_id = place_order(
                session, OrderRequest(symbol="BTC/EUR", side=OrderSide.BUY, quantity=D("0.01")), actor="tester"
            ).client_order_id
        waited = _wait_for_fill(postgres_database, client_id, within=5.0)
        client_notified = _place(postgres_database)
        notified_wait = _wait_for_fill(postgres_database, client_notified, within=5.0)
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()
    assert waited < 5.0  # found by the 2 s safety poll
    # Placed right after that safety poll found the first order, so the next one is ~2 s away:
    # picked up sooner means woken by the trigger's NOTIFY.
    assert notified_wait < 1.0


def test_a_waiting_executor_pass_ends_promptly_on_stop(database: Database, market: dict[str, int]) -> None:
    executor = _executor(database)
    thread, stop = _run_in_background(executor)
    time.sleep(0.3)
    began = time.monotonic()
    stop.set()
    thread.join(timeout=10)
    executor.close()
    assert not thread.is_alive()
    assert time.monotonic() - began < 1.0


def _unused(_: ChangeWaiter) -> None:  # the deaf waiter satisfies the protocol
    pass


_unused(DeafWaiter())


def test_a_resting_paper_limit_fills_as_soon_as_a_new_quote_crosses_it(
    database: Database, market: dict[str, int]
) -> None:
    from core.execution.enums import OrderType
    from core.timeutil import utc_now
    from tests.core.execution.conftest import add_quote

    executor = _executor(database)
    thread, stop = _run_in_background(executor)
    try:
        with database.session() as session:
            client_id = place_order(
                session,
                OrderRequest(
                    symbol="BTC/EUR",
                    side=OrderSide.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=D("0.01"),
                    limit_price=D("49000"),
                ),
                actor="tester",
            ).client_order_id
        _wait_for_status(database, client_id, OrderStatus.OPEN)
        time.sleep(0.6)  # resting; the executor waits for prices
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "48900", utc_now())  # a streamed quote crossing the limit
        waited = _wait_for_fill(database, client_id, within=5.0)
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()
    assert waited < 3.0  # woken by the new price (watch at most every 1 s), not by the 30 s safety poll


def _wait_for_status(database: Database, client_id: str, wanted: OrderStatus) -> None:
    began = time.monotonic()
    while time.monotonic() - began < 30:
        status = database.run(
            lambda session: session.scalar(select(Order.status).where(Order.client_order_id == client_id))
        )
        if status is wanted:
            return
        time.sleep(0.02)
    raise AssertionError(f"order {client_id} never became {wanted} (it is {status})")


def test_prices_without_resting_orders_or_exits_do_not_wake_the_watch_and_a_resting_check_only_reads(
    database: Database, market: dict[str, int]
) -> None:
    """New quotes concern the executor only while something rests; a resting order that does not fill
    is checked without the write lock; the quote that crosses it fills it."""
    executor = _executor(database, executor_watch_seconds=0.1, executor_safety_poll_seconds=30.0)
    thread, stop = _run_in_background(executor)
    try:
        time.sleep(0.3)
        deadline = time.monotonic() + 10
        while executor._last_watch == 0.0:  # the pass's first look (one watch cycle) is done
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.1)
        watches = executor._last_watch
        for step in range(5):  # quotes, nothing resting
            with database.session() as session:
                add_quote(session, market["BTC/EUR"], str(50000 + step))
            time.sleep(0.15)
        assert executor._last_watch == watches  # no watch cycle for prices nobody waits for
        with database.session() as session:
            limit = place_order(
                session,
                OrderRequest(
                    symbol="BTC/EUR",
                    side=OrderSide.BUY,
                    quantity=D("0.01"),
                    order_type=OrderType.LIMIT,
                    limit_price=D("45000"),
                ),
                actor="tester",
            ).client_order_id
        deadline = time.monotonic() + 5
        while (
            database.run(lambda session: session.scalar(select(Order.status).where(Order.client_order_id == limit)))
            is not OrderStatus.OPEN
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        locked_before = executor.locked_checks
        for step in range(5):  # the limit rests: watched, read only
            with database.session() as session:
                add_quote(session, market["BTC/EUR"], str(49000 + step))
            time.sleep(0.15)
        assert executor._last_watch != watches
        assert executor.locked_checks == locked_before
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "44900")  # crosses the limit
        assert _wait_for_fill(database, limit, within=5.0) < 3.0
        assert executor.locked_checks > locked_before
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()


def _resting_limit(database: Database, limit: str) -> str:
    with database.session() as session:
        client_id = place_order(
            session,
            OrderRequest(
                symbol="BTC/EUR",
                side=OrderSide.BUY,
                quantity=D("0.01"),
                order_type=OrderType.LIMIT,
                limit_price=D(limit),
            ),
            actor="tester",
        ).client_order_id
    _wait_for_status(database, client_id, OrderStatus.OPEN)
    return client_id


def _settled(value: Callable[[], int], quiet_for: float = 0.6, within: float = 10.0) -> None:
    """Wait until ``value()`` has not changed for ``quiet_for`` seconds."""
    deadline = time.monotonic() + within
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet_for:
        assert time.monotonic() < deadline, "never settled"
        time.sleep(0.05)
        if value() != last:
            last, since = value(), time.monotonic()


def test_quotes_are_judged_in_memory_and_the_resting_orders_are_read_again_only_when_orders_change(
    database: Database, market: dict[str, int]
) -> None:
    """Every new quote is checked against the resting limit, without re-reading the orders or taking a lock."""
    executor = _executor(database, executor_watch_seconds=0.1, executor_safety_poll_seconds=30.0)
    thread, stop = _run_in_background(executor)
    try:
        limit = _resting_limit(database, "45000")
        # The order's own changes (new, then open) mark the resting orders stale; they are read again
        # at the next price: one quote, then nothing is read again while only prices arrive.
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "48999")
        _settled(lambda: executor.watch_set_loads)
        loads, quiet, locked = executor.watch_set_loads, executor.quiet_checks, executor.locked_checks
        for step in range(5):  # quotes that do not reach the limit
            with database.session() as session:
                add_quote(session, market["BTC/EUR"], str(49000 + step))
            time.sleep(0.15)
        assert executor.watch_set_loads == loads  # no order changed: the resting orders were not read again
        assert executor.quiet_checks >= quiet + 2  # the quotes were judged (at most one check per 0.1 s)
        assert executor.locked_checks == locked  # ... without the write lock
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "44900")  # crosses the limit
        assert _wait_for_fill(database, limit, within=5.0) < 3.0
        assert executor.locked_checks > locked
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "45100")
        deadline = time.monotonic() + 5
        while executor.watch_set_loads == loads:  # the fill changed the orders: read again at the next price
            assert time.monotonic() < deadline, "the resting orders were not read again after the fill"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()


def test_a_crossing_quote_whose_notification_is_missed_is_caught_by_the_safety_poll(
    database: Database, market: dict[str, int]
) -> None:
    executor = _executor(database, executor_safety_poll_seconds=0.5)
    deaf = DeafWaiter()
    executor._change_waiter = deaf  # every change is missed: only the safety poll looks
    thread, stop = _run_in_background(executor)
    try:
        # Only once the executor has looked and gone to sleep: else its first look (every pass
        # starts with one) could find the order and the quote, and the safety poll would prove nothing.
        deadline = time.monotonic() + 10
        while deaf.waits == 0:
            assert time.monotonic() < deadline, "the executor never went to wait"
            time.sleep(0.01)
        limit = _resting_limit(database, "45000")
        with database.session() as session:
            add_quote(session, market["BTC/EUR"], "44900")
        waited = _wait_for_fill(database, limit, within=5.0)
    finally:
        stop.set()
        thread.join(timeout=10)
        executor.close()
    assert waited < 3.0  # the 0.5 s safety poll checked the resting order against the new quote


def test_the_per_quote_judgement_follows_the_fill_model() -> None:
    from core.execution.enums import TimeInForce
    from core.execution.executor import RestingPaperOrder, WatchedExit
    from core.execution.fill_model import BarPrices, ExitLevels
    from core.timeutil import utc_now

    def bar(low: str, high: str) -> BarPrices[Decimal]:
        return BarPrices(D(high), D(high), D(low), D(low))

    now = utc_now()
    limit_buy = RestingPaperOrder(
        1, 1, OrderSide.BUY, OrderType.LIMIT, OrderStatus.OPEN, TimeInForce.GTC, D("100"), None, None, now
    )
    assert not limit_buy.acts_on(bar("100.5", "101"))
    assert limit_buy.acts_on(bar("99", "101"))
    stop_limit_sell = RestingPaperOrder(
        2, 1, OrderSide.SELL, OrderType.STOP_LIMIT, OrderStatus.OPEN, TimeInForce.GTC, D("85"), D("90"), None, now
    )
    assert not stop_limit_sell.acts_on(bar("91", "95"))
    assert stop_limit_sell.acts_on(bar("89", "95"))  # triggered (the state changes even if the limit is not met)
    triggered = RestingPaperOrder(
        3, 1, OrderSide.SELL, OrderType.STOP_LIMIT, OrderStatus.TRIGGERED, TimeInForce.GTC, D("99"), D("90"), None, now
    )
    assert not triggered.acts_on(bar("95", "98"))  # now a limit sell at 99
    assert triggered.acts_on(bar("95", "99.5"))
    long_exit = WatchedExit(4, 1, OrderSide.BUY, ExitLevels(D("90"), D("120"), D("5"), D("95")), now)
    assert not long_exit.acts_on(bar("96", "100"))  # trailing stop stays at 95, nothing triggers
    assert long_exit.acts_on(bar("96", "101"))  # the trailing stop moves up: written
    assert long_exit.acts_on(bar("94", "99"))  # the trailing stop triggers
    assert long_exit.acts_on(bar("100", "121"))  # take-profit


@pytest.mark.parametrize("kind", ["order", "plan"])
def test_one_in_memory_judge_serves_resting_orders_and_exit_plans(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import core.execution.executor as executor_module
    from core.execution.fill_model import BarPrices
    from core.execution.prices import PriceObservation
    from core.timeutil import utc_now

    executor = _executor(sqlite_database)
    clock = [1000.0]
    monkeypatch.setattr(executor_module.time, "monotonic", lambda: clock[0])
    start = utc_now()
    quotes = [
        PriceObservation(start + executor_module.timedelta(seconds=n), BarPrices(D(p), D(p), D(p), D(p)), "test")
        for n, p in enumerate(["101", "102", "99"], start=1)
    ]

    def crosses(bar: BarPrices[Decimal]) -> bool:
        return bar.low < D("100")

    assert executor._judged_acting(kind, 7, None, None, quotes, crosses)  # no cursor yet: the full check sets one
    assert executor._judged_acting(kind, 7, start, start, quotes, crosses)  # the quote at 99 acts on it
    quiet = executor.quiet_checks
    # Only quotes above 100 since the cursor: judged quiet, the cursor advances in memory only...
    assert not executor._judged_acting(kind, 7, start, start, quotes[:2], crosses)
    assert executor.quiet_checks == quiet + 1
    assert executor._cursor(kind, 7, start) == quotes[1].ts
    # ... older quotes than the cursor are not judged again ...
    assert not executor._judged_acting(kind, 7, quotes[2].ts, start, quotes, crosses)
    # ... and once the held cursor is due to be written, the full check runs (and writes it).
    clock[0] += executor_module.CURSOR_PERSIST_SECONDS
    assert executor._judged_acting(kind, 7, quotes[1].ts, start, quotes[:2], crosses)
    assert executor.quiet_checks == quiet + 2
