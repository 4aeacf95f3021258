"""One Trading as ccxt's own fixtures describe it: market precision, minimum cost, and what an error proves.

The markets and the expected request body come from ccxt's static test data (quoted in
``fixtures/ccxt_onetrading.json`` with their repository, path and commit):
- markets ``ts/src/test/static/markets/onetrading.json``: BTC/USDT and LTC/EUR with
  ``precision.amount`` 0.00001, ``precision.price`` 0.01 and ``limits.cost.min`` 10;
- request ``ts/src/test/static/request/onetrading.json``, ``createOrder`` "limit sell order":
  ``createOrder("BTC/USDT", "limit", "sell", 0.0008379, 100000)`` sends
  ``{"instrument_code":"BTC_USDT","type":"LIMIT","side":"SELL","amount":"0.00083","price":"100000",
  "time_in_force":"GOOD_TILL_CANCELLED"}`` — ccxt truncates the amount silently, so a local
  order of 0.0008379 would differ from what the venue holds. Konsens rounds first and stores that.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db.engine import Database
from core.execution.broker import BrokerRejected, BrokerUnavailable, BrokerUncertain
from core.execution.enums import OrderSide, OrderType, TimeInForce
from core.execution.live import OneTradingBroker, venue_error_code
from core.execution.models import Order, OrderStatus
from core.execution.orders import OrderRequest
from core.execution.service import place_order
from core.market.models import Instrument
from core.market.trading_rules import RuleViolation, check_order
from core.timeutil import utc_now
from tests.core.execution.fake_onetrading import API_KEY, FakeOneTrading, start_fake_onetrading
from tests.core.execution.test_live_broker import _order, _place_live, fake_venue, live_setup  # noqa: F401

D = Decimal
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ccxt_onetrading.json").read_text())


@pytest.fixture
def venue() -> Iterator[tuple[FakeOneTrading, OneTradingBroker]]:
    server, fake, base_url = start_fake_onetrading()
    broker = OneTradingBroker(API_KEY, base_url=base_url, timeout_seconds=1.0, rate_limit=False)
    broker.exchange.set_markets(FIXTURE["markets"])
    yield fake, broker
    server.shutdown()


def _ticket(quantity: str, price: str = "100000", side: OrderSide = OrderSide.SELL) -> Order:
    return Order(
        client_order_id=str(uuid.uuid4()),
        symbol="BTC/USDT",
        side=side,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D(quantity),
        limit_price=D(price),
        filled_quantity=D(0),
    )


def test_the_rules_come_from_ccxts_markets(venue: tuple[FakeOneTrading, OneTradingBroker]) -> None:
    _fake, broker = venue
    rules = broker.trading_rules("BTC/USDT")
    assert rules is not None
    assert (rules.lot_size, rules.tick_size, rules.min_notional) == (D("0.00001"), D("0.01"), D("10"))
    assert rules.min_quantity is None and rules.source == "ccxt:onetrading"
    assert broker.trading_rules("DOGE/EUR") is None


def test_konsens_rounds_like_ccxt_before_storing_and_sends_exactly_that(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    fake, broker = venue
    symbol, _kind, _side, amount, price = FIXTURE["request"]["input"]
    rules = broker.trading_rules(symbol)
    assert rules is not None
    stored = check_order(
        rules,
        symbol=symbol,
        quote="USDT",
        quantity=D(str(amount)),
        prices={"limit price": D(str(price))},
        reference_price=D(str(price)),
    )
    assert stored == D("0.00083")
    order = _ticket(str(stored), str(price))
    broker.submit(order)
    sent = fake.create_bodies[-1]
    assert sent.pop("client_id") == order.client_order_id
    assert sent == json.loads(FIXTURE["request"]["output"])


def test_a_quantity_the_venue_would_truncate_is_refused_before_sending(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    fake, broker = venue
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(_ticket("0.0008379"))
    assert refused.value.rule == "venue_lot_size" and not refused.value.by_venue
    assert "0.00083" in refused.value.reason
    assert fake.create_bodies == []


def test_an_order_below_the_minimum_cost_or_off_the_tick_is_refused_naming_the_rule(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    fake, broker = venue
    with pytest.raises(BrokerRejected) as small:
        broker.submit(_ticket("0.00009"))  # 9 USDT < 10
    assert small.value.rule == "venue_min_notional" and "limits.cost.min" in small.value.reason
    with pytest.raises(BrokerRejected) as off_tick:
        broker.submit(_ticket("0.001", "100000.005"))
    assert off_tick.value.rule == "venue_tick_size"
    assert fake.create_bodies == []
    rules = broker.trading_rules("LTC/EUR")
    assert rules is not None
    with pytest.raises(RuleViolation, match=r"venue_min_notional: order value 9.00 EUR is below the minimum of 10 EUR"):
        check_order(rules, symbol="LTC/EUR", quote="EUR", quantity=D("0.1"), prices={}, reference_price=D("90"))


def test_internal_error_on_create_is_uncertain_not_a_refused_key(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    fake, broker = venue
    fake.mode = "internal_error"
    with pytest.raises(BrokerUncertain, match="INTERNAL_ERROR"):
        broker.submit(_ticket("0.001"))
    assert len(fake.create_bodies) == 1


def test_internal_error_on_a_read_is_unavailable_and_a_proven_refusal_stays_a_rejection(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    fake, broker = venue
    assert venue_error_code(Exception('onetrading {"error":"INTERNAL_ERROR"}')) == "INTERNAL_ERROR"
    fake.mode = "insufficient_funds"
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(_ticket("0.001"))
    assert refused.value.rule == "insufficient_funds" and refused.value.by_venue
    wrong_key = OneTradingBroker("wrong", base_url=broker.exchange.urls["api"]["private"], rate_limit=False)
    wrong_key.exchange.set_markets(FIXTURE["markets"])
    with pytest.raises(BrokerRejected) as auth:
        wrong_key.balances()
    assert auth.value.rule == "venue_auth"

    def failing_balance(*_args: Any, **_kwargs: Any) -> Any:
        broker.exchange.handle_errors(
            500,
            "Internal Server Error",
            "",
            "GET",
            {},
            '{"error":"INTERNAL_ERROR"}',
            {"error": "INTERNAL_ERROR"},
            {},
            None,
        )

    broker.exchange.fetch_balance = failing_balance
    with pytest.raises(BrokerUnavailable, match="INTERNAL_ERROR"):
        broker.balances()


# --- the whole live path (executor + loopback venue) ------------------------------------------------


def test_a_500_internal_error_after_acceptance_is_looked_up_and_recorded_as_filled(
    database: Database,
    live_setup: Any,  # noqa: F811
) -> None:
    venue, make = live_setup
    venue.mode = "internal_error_after_accept"
    client_id = _place_live(database, quantity=D("0.1"))
    make().run_pass(until_idle=True)
    order = _order(database, client_id)
    assert order.status is OrderStatus.FILLED, order.reject_reason
    assert venue.create_requests[client_id] == 1


def test_a_500_internal_error_before_acceptance_is_reconciled_and_sent_once_more(
    database: Database,
    live_setup: Any,  # noqa: F811
) -> None:
    venue, make = live_setup
    venue.mode = "internal_error"
    client_id = _place_live(database, quantity=D("0.1"))
    executor = make()
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.SUBMITTING  # fate unknown, never "rejected"
    venue.mode = "normal"
    with database.session() as session:
        row = session.scalar(select(Order).where(Order.client_order_id == client_id))
        assert row is not None
        row.lease_until = utc_now() - timedelta(seconds=1)  # the lease ran out
    executor.run_pass(until_idle=True)  # the watch finds it unknown at the venue: back to new
    assert _order(database, client_id).status is OrderStatus.NEW
    executor.run_pass(until_idle=True)
    assert _order(database, client_id).status is OrderStatus.FILLED
    assert venue.create_requests[client_id] == 2  # looked up by client id (unknown), then sent again


def test_live_orders_are_rounded_to_the_market_and_checked_before_they_are_stored_and_sent(
    database: Database,
    live_setup: Any,  # noqa: F811
) -> None:
    venue, make = live_setup  # the loopback's BTC_EUR: amount_precision 5, market_precision 2, min_size 10
    rounded = _place_live(database, quantity=D("0.1234567"))
    small = _place_live(database, quantity=D("0.0001"))  # 5 EUR at 50 000
    off_tick = _place_live(database, quantity=D("0.01"), order_type=OrderType.LIMIT, limit_price=D("49000.005"))
    make().run_pass(until_idle=True)
    filled = _order(database, rounded)
    assert filled.status is OrderStatus.FILLED and filled.quantity == D("0.12345")
    assert [body["amount"] for body in venue.create_bodies] == ["0.12345"]  # only this one left
    denied = _order(database, small)
    assert denied.status is OrderStatus.DENIED and denied.reject_rule == "venue_min_notional"
    assert "ccxt:onetrading" in (denied.reject_reason or "")
    assert _order(database, off_tick).reject_rule == "venue_tick_size"
    with database.session() as session:
        instrument = session.scalar(select(Instrument).where(Instrument.symbol == "BTC/EUR"))
        assert instrument is not None and instrument.rules_source == "ccxt:onetrading"
        assert (instrument.lot_size, instrument.tick_size, instrument.min_notional) == (
            D("0.00001"), D("0.01"), D("10"),
        )  # fmt: skip


def test_a_paper_ticket_below_a_stored_minimum_is_denied_at_once(database: Database, market: dict[str, int]) -> None:
    with database.session() as session:
        instrument = session.get(Instrument, market["BTC/EUR"])
        assert instrument is not None
        instrument.lot_size, instrument.min_notional, instrument.rules_source = D("0.0001"), D("10"), "ccxt:onetrading"
        order = place_order(
            session,
            OrderRequest("BTC/EUR", OrderSide.BUY, OrderType.LIMIT, quantity=D("0.00019"), limit_price=D("50000")),
            actor="tester",
        )
        assert order.status is OrderStatus.DENIED and order.reject_rule == "venue_min_notional"
        assert "order value 5.00 EUR is below the minimum of 10 EUR for BTC/EUR (ccxt:onetrading)" in (
            order.reject_reason or ""
        )
        accepted = place_order(
            session,
            OrderRequest("BTC/EUR", OrderSide.BUY, OrderType.LIMIT, quantity=D("0.00029"), limit_price=D("50000")),
            actor="tester",
        )
        assert accepted.status is OrderStatus.NEW
        assert accepted.quantity == D("0.0002")  # rounded down to the lot before it was stored


def test_a_stop_order_the_venue_reports_as_triggered_is_triggered(
    venue: tuple[FakeOneTrading, OneTradingBroker],
) -> None:
    _fake, broker = venue
    # The order answer as ccxt documents it in onetrading's parseOrder (ts/src/onetrading.ts), status OPEN
    # with the trigger time set.
    raw: dict[str, Any] = {
        "order": {
            "order_id": "66756a10-3e86-48f4-9678-b634c4b135b2",
            "account_id": "1eb2ad5d-55f1-40b5-bc92-7dc05869e905",
            "instrument_code": "BTC_USDT",
            "amount": "0.001",
            "filled_amount": "0",
            "side": "SELL",
            "type": "STOP",
            "status": "OPEN",
            "sequence": 123456789,
            "price": "99000",
            "time": "2020-05-06T06:53:31Z",
            "time_in_force": "GOOD_TILL_CANCELLED",
            "time_last_updated": "2020-05-06T06:53:31Z",
            "is_post_only": False,
            "time_triggered": "2020-05-06T06:53:31Z",
            "trigger_price": "99500",
        },
        "trades": [],
    }
    assert broker._state(raw).status is OrderStatus.TRIGGERED
    del raw["order"]["time_triggered"]
    assert broker._state(raw).status is OrderStatus.OPEN
