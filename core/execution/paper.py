"""The paper broker: fills orders against collected prices with the one fill model.

- A market order fills at the first price observation after it (a newer quote, or the open of a
  newer candle) plus slippage. If none has arrived yet, it is checked once against the latest
  price when that is at most ``paper_price_max_age_seconds`` old (setting; 0 = always wait):
  a market order fills there, a marketable limit fills there, a stop already crossed triggers.
- Limit orders fill when the price crosses the limit, stops when triggered (``fill_price``).
- IOC and FOK orders get one look (the first observation, or the fresh latest price); what does
  not fill then expires. Paper orders fill completely, so FOK and IOC behave alike.
- Fees: the taker rate of ``paper_fee_venue`` for orders that fill on arrival, the maker rate for
  limit orders that rested first. Charged in the quote currency (EUR).

The paper venue is the database itself: submitting and filling happen in the executor's
transaction, so a paper order can never be half-sent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.orm import Session

from core.execution.accounting import account_balances
from core.execution.broker import VenueFill, VenueOrderState
from core.execution.enums import OrderType, TimeInForce
from core.execution.fill_model import BarPrices, fee_for, fill_price, stop_triggered
from core.execution.models import Order, OrderStatus
from core.execution.prices import PriceObservation, latest_price, observations_after
from core.execution.settings import PAPER_VENUE, TradingConfig
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

PRICE_STEP = Decimal("0.0000000001")
FEE_STEP = Decimal("0.00000001")


class PaperBroker:
    """Simulated venue over collected prices (see the module docstring)."""

    venue = PAPER_VENUE
    is_live = False

    def __init__(self, session: Session, config: TradingConfig):
        self.session = session
        self.config = config

    def submit(self, order: Order) -> VenueOrderState:
        """Accept the order and fill it at once if the prices allow; IOC/FOK expire otherwise."""
        return self._evaluate(order, first_look=True)

    def poll(self, order: Order) -> VenueOrderState:
        """Check a resting order against the prices that arrived since it was last checked."""
        return self._evaluate(order, first_look=False)

    def cancel(self, order: Order) -> VenueOrderState:
        return VenueOrderState(OrderStatus.CANCELLED, venue_order_id=order.venue_order_id)

    def fetch(self, order: Order) -> VenueOrderState | None:
        if order.status in (OrderStatus.NEW, OrderStatus.SUBMITTING):
            return None  # the paper venue only knows orders whose submission committed
        return VenueOrderState(order.status, order.venue_order_id, order.filled_quantity)

    def balances(self) -> dict[str, Decimal]:
        return account_balances(self.session, self.config.settings.paper_account)

    def _evaluate(self, order: Order, *, first_look: bool) -> VenueOrderState:
        if order.instrument_id is None or order.quantity is None:
            raise ValueError("a paper order needs an instrument and a quantity")
        cursor = order.price_cursor or order.created_at
        immediate = order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        observations = observations_after(self.session, order.instrument_id, cursor)
        if immediate:
            observations = observations[:1]
        if not observations and first_look:
            fresh = self._fresh_latest(order)
            if fresh is not None:
                observations = [fresh]
        venue_order_id = order.venue_order_id or f"paper-{order.client_order_id[:8]}"
        last_seen = cursor
        # A triggered stop-limit works as a limit order from the observation after its trigger.
        triggered = order.status is OrderStatus.TRIGGERED and order.order_type is OrderType.STOP_LIMIT
        order_type = OrderType.LIMIT if triggered else order.order_type
        for observation in observations:
            last_seen = max(last_seen, observation.ts)
            price = fill_price(
                order.side,
                order_type,
                observation.bar,
                slippage=self.config.paper_slippage,
                limit_price=order.limit_price,
                stop_price=order.stop_price,
            )
            if price is None:
                if (
                    order_type is OrderType.STOP_LIMIT
                    and order.stop_price is not None
                    and stop_triggered(order.side, observation.bar, order.stop_price)
                ):
                    return VenueOrderState(
                        OrderStatus.TRIGGERED, venue_order_id, reason="stop reached", price_cursor=observation.ts
                    )
                continue
            price = price.quantize(PRICE_STEP)
            quantity = order.remaining_quantity
            maker = order.order_type is OrderType.LIMIT and not first_look
            schedule = self.config.paper_fees
            fee = fee_for(quantity * price, schedule.maker if maker else schedule.taker).quantize(FEE_STEP)
            fill = VenueFill(
                fill_id=f"paper-{order.client_order_id}",
                ts=max(observation.ts, order.created_at),
                quantity=quantity,
                price=price,
                fee=fee,
                fee_asset="EUR",
            )
            return VenueOrderState(OrderStatus.FILLED, venue_order_id, quantity, [fill], price_cursor=observation.ts)
        if immediate:
            reason = "no price yet" if not observations else "price did not reach the limit"
            return VenueOrderState(OrderStatus.EXPIRED, venue_order_id, reason=f"{order.time_in_force.value}: {reason}")
        return VenueOrderState(OrderStatus.OPEN, venue_order_id, price_cursor=last_seen)

    def _fresh_latest(self, order: Order) -> PriceObservation | None:
        max_age = self.config.paper_price_max_age_seconds
        if max_age <= 0 or order.instrument_id is None:
            return None
        latest = latest_price(self.session, order.instrument_id)
        if latest is None or latest.age_seconds() > max_age:
            return None
        price = latest.price
        now = utc_now()
        return PriceObservation(now, BarPrices(price, price, price, price), "latest")
