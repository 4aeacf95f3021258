"""The live broker: One Trading (Bitpanda's exchange) through ccxt ``onetrading``.

Every order carries its client order id (a UUID) to the venue, so the executor can always ask
the venue about an order it is unsure of (``GET /account/orders/client/{client_id}``).
Errors are sorted into three outcomes the executor acts on, by what the answer PROVES, not by
ccxt's class alone (ccxt maps One Trading's ``INTERNAL_ERROR`` to ``AuthenticationError``):
- ``BrokerRejected``: the venue refused; the order was not placed — an HTTP 4xx answer with a
  refusal code (INSUFFICIENT_FUNDS, INVALID_APIKEY, INVALID_AMOUNT, ...).
- ``BrokerUnavailable``: not placed, try again later (RATELIMIT, maintenance; on a read, any
  server-side failure).
- ``BrokerUncertain``: a state-changing request (create, cancel) that failed for a reason that
  does not prove refusal — a timeout, a lost connection, HTTP 5xx, ``INTERNAL_ERROR``, an error
  code Konsens does not know: the order's fate is unknown until it is looked up by client id.

Before an order leaves, its quantity and prices are checked against the market's precision
(ccxt ``amount_to_precision`` / ``price_to_precision``) and minimum order cost
(``limits.cost.min``): the executor rounds and stores the quantity with :meth:`trading_rules`
first, and :meth:`submit` refuses (``by_venue`` False) anything the venue would change, so the
stored figure is exactly what is sent.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
from sqlalchemy.orm import Session

from core.execution.broker import (
    BrokerRejected,
    BrokerUnavailable,
    BrokerUncertain,
    LiveTradingUnavailable,
    VenueFill,
    VenueOrderState,
)
from core.execution.enums import OrderType, TimeInForce
from core.execution.models import Order, OrderStatus
from core.execution.settings import ONE_TRADING, SECRET_ONETRADING_KEY, TradingConfig
from core.logging_setup import redact
from core.market.trading_rules import TradingRules, rules_from_ccxt_market
from core.security.secrets import SecretStore
from core.timeutil import ms_to_utc, utc_now

logger = logging.getLogger(__name__)

TIME_IN_FORCE = {
    TimeInForce.GTC: "GOOD_TILL_CANCELLED",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCELLED",
    TimeInForce.FOK: "FILL_OR_KILL",
}


# Error codes of One Trading's answers that do not prove the request was refused (the server
# failed while handling it): a state-changing call answered with one of them is uncertain.
UNPROVEN_ERROR_CODES = frozenset({"INTERNAL_ERROR", "SERVICE_UNAVAILABLE", "GATEWAY_TIMEOUT", "TIMEOUT"})
_ERROR_CODE = re.compile(r'"error"\s*:\s*"([A-Z0-9_]+)"')


def venue_error_code(error: Exception) -> str | None:
    """Return One Trading's error code (``{"error": "CODE"}``) carried in a ccxt error message."""
    match = _ERROR_CODE.search(str(error))
    return match.group(1) if match else None


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _message(error: Exception) -> str:
    return redact(str(error)).splitlines()[0][:300] if str(error) else type(error).__name__


class OneTradingBroker:
    """One Trading spot orders via ccxt; see the module docstring for the error mapping."""

    is_live = True

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
        venue: str = ONE_TRADING,
        rate_limit: bool = True,
    ):
        options: dict[str, Any] = {
            "apiKey": api_key,
            "enableRateLimit": rate_limit,
            "timeout": int(timeout_seconds * 1000),
        }
        if base_url:
            options["urls"] = {"api": {"public": base_url.rstrip("/"), "private": base_url.rstrip("/")}}
        self.venue = venue
        self.exchange = ccxt.onetrading(options)
        self.last_status: int | None = None
        original = self.exchange.handle_errors

        def recording(code: int, *args: Any) -> Any:  # remember the HTTP status of the last answer
            self.last_status = code
            return original(code, *args)

        self.exchange.handle_errors = recording

    # -- helpers

    def _call(self, action: str, function: Any, *args: Any, uncertain: bool = False, **kwargs: Any) -> Any:
        """Run a ccxt call and translate its errors; ``uncertain`` marks calls that change state."""
        try:
            if self.exchange.markets is None:
                self.exchange.load_markets()
            self.last_status = None
            return function(*args, **kwargs)
        except ccxt.OrderNotFound:
            raise
        except ccxt.ExchangeError as error:
            code = venue_error_code(error)
            server_failed = (self.last_status is not None and self.last_status >= 500) or code in UNPROVEN_ERROR_CODES
            if server_failed and not isinstance(error, ccxt.OnMaintenance | ccxt.DDoSProtection):
                shown = f"{code or 'HTTP ' + str(self.last_status)}: {_message(error)}"
                if uncertain:
                    raise BrokerUncertain(f"{action}: the venue failed, the outcome is unknown ({shown})") from error
                raise BrokerUnavailable(f"{action}: the venue failed ({shown})") from error
            self._translate(action, error, uncertain=uncertain)
            raise  # _translate always raises
        except ccxt.BaseError as error:
            self._translate(action, error, uncertain=uncertain)
            raise

    def _translate(self, action: str, error: Exception, *, uncertain: bool) -> None:
        """Raise the Broker* error for a ccxt error whose answer proves its meaning (always raises)."""
        message = _message(error)
        if isinstance(error, ccxt.InsufficientFunds):
            raise BrokerRejected("insufficient_funds", f"the venue reports insufficient funds ({message})") from error
        if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
            raise BrokerRejected("venue_auth", f"the venue refused the API key ({message})") from error
        if isinstance(error, ccxt.InvalidOrder | ccxt.BadSymbol | ccxt.BadRequest | ccxt.ArgumentsRequired):
            raise BrokerRejected("venue_invalid", f"the venue refused the order ({message})") from error
        if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded | ccxt.OnMaintenance):
            raise BrokerUnavailable(f"{action}: venue rate limit or maintenance ({message})") from error
        if isinstance(error, ccxt.RequestTimeout | ccxt.NetworkError):
            if uncertain:
                raise BrokerUncertain(f"{action}: no answer ({message})") from error
            raise BrokerUnavailable(f"{action}: venue not reachable ({message})") from error
        # an error Konsens does not know: nothing is proven
        if uncertain:
            raise BrokerUncertain(f"{action}: venue error ({message})") from error
        raise BrokerUnavailable(f"{action}: venue error ({message})") from error

    def trading_rules(self, symbol: str) -> TradingRules | None:
        """Return the market's order rules from ccxt's markets (loaded once), or None for an unknown symbol."""
        self._call("load markets", lambda: None)
        market = (self.exchange.markets or {}).get(symbol)
        if market is None:
            return None
        return rules_from_ccxt_market(
            market, precision_mode=int(self.exchange.precisionMode), source=f"ccxt:{self.exchange.id}"
        )

    def _checked_figures(self, order: Order) -> tuple[str, str | None, str | None]:
        """Return quantity, limit and stop as sent; refuse (not by the venue) what the venue would change."""
        symbol = order.symbol
        quantity = order.quantity or Decimal(0)
        try:
            sent_amount = self.exchange.amount_to_precision(symbol, str(quantity))
        except ccxt.BaseError as error:
            raise BrokerRejected("venue_lot_size", _message(error), by_venue=False) from error
        if Decimal(sent_amount) != quantity:
            raise BrokerRejected(
                "venue_lot_size",
                f"quantity {quantity} is not a multiple of the market's amount precision (would send {sent_amount})",
                by_venue=False,
            )
        prices: list[str | None] = []
        for name, price in (("limit price", order.limit_price), ("stop price", order.stop_price)):
            if price is None:
                prices.append(None)
                continue
            sent_price = self.exchange.price_to_precision(symbol, str(price))
            if Decimal(sent_price) != price:
                raise BrokerRejected(
                    "venue_tick_size",
                    f"{name} {price} is not on the market's price precision (would send {sent_price})",
                    by_venue=False,
                )
            prices.append(str(price))
        market = (self.exchange.markets or {}).get(symbol) or {}
        minimum = ((market.get("limits") or {}).get("cost") or {}).get("min")
        value_price = order.limit_price or order.stop_price
        if minimum is not None and value_price is not None and quantity * value_price < Decimal(str(minimum)):
            raise BrokerRejected(
                "venue_min_notional",
                f"order value {quantity * value_price} is below the market's minimum cost of {minimum} "
                f"(ccxt:{self.exchange.id} limits.cost.min)",
                by_venue=False,
            )
        return str(quantity), prices[0], prices[1]

    def _state(self, raw: dict[str, Any]) -> VenueOrderState:
        order = self.exchange.parse_order(raw)
        trades = self.exchange.parse_trades(raw.get("trades") or []) if isinstance(raw, dict) else []
        filled = _decimal(order.get("filled"))
        amount = _decimal(order.get("amount"))
        unified = order.get("status")
        if unified == "closed":
            status = OrderStatus.FILLED
        elif unified == "canceled":
            status = OrderStatus.CANCELLED
        elif unified == "rejected":
            status = OrderStatus.REJECTED
        elif unified == "expired":
            status = OrderStatus.EXPIRED
        elif filled > 0 and (amount == 0 or filled < amount):
            status = OrderStatus.PARTIALLY_FILLED
        elif filled > 0 and filled >= amount:
            status = OrderStatus.FILLED
        else:
            status = OrderStatus.OPEN
        raw_order = raw.get("order", raw) if isinstance(raw, dict) else {}
        if status is OrderStatus.OPEN and isinstance(raw_order, dict) and raw_order.get("time_triggered"):
            status = OrderStatus.TRIGGERED  # a stop whose trigger price was reached (One Trading's time_triggered)
        fills = []
        for trade in trades:
            fee = trade.get("fee") or {}
            timestamp = trade.get("timestamp")
            fills.append(
                VenueFill(
                    fill_id=f"{self.venue}-{trade['id']}",
                    ts=ms_to_utc(timestamp) if timestamp else utc_now(),
                    quantity=_decimal(trade.get("amount")),
                    price=_decimal(trade.get("price")),
                    fee=_decimal(fee.get("cost")),
                    fee_asset=str(fee.get("currency") or "EUR"),
                )
            )
        reason = None
        if isinstance(raw_order, dict) and raw_order.get("reason"):
            reason = str(raw_order["reason"])
        return VenueOrderState(status, order.get("id"), filled, fills, reason=reason)

    # -- the Broker protocol

    def submit(self, order: Order) -> VenueOrderState:
        """Place ``order`` with its client order id; return the venue's answer."""
        if order.quantity is None:
            raise BrokerRejected("validation", "no quantity", by_venue=False)
        if order.order_type is OrderType.STOP_MARKET:
            raise BrokerRejected(
                "venue_invalid", "One Trading has no stop-market orders: use a stop-limit", by_venue=False
            )
        self._call("load markets", lambda: None)
        amount, limit_price, stop_price = self._checked_figures(order)
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        price: str | None = None
        if order.order_type is OrderType.MARKET:
            kind = "market"
        elif order.order_type is OrderType.LIMIT:
            kind = "limit"
            price = limit_price
            params["timeInForce"] = TIME_IN_FORCE[order.time_in_force]
        else:  # stop-limit
            kind = "limit"
            price = limit_price
            params["triggerPrice"] = stop_price
        raw = self._call(
            "create order",
            self.exchange.create_order,
            order.symbol,
            kind,
            order.side.value,
            amount,
            price,
            params,
            uncertain=True,
        )
        info = raw.get("info") if isinstance(raw, dict) else None
        state = self._state(info if isinstance(info, dict) else {})
        if not state.fills and state.status is OrderStatus.OPEN and order.order_type is OrderType.MARKET:
            # A market order's trades come with the order's details: look them up.
            fetched = self.fetch(order)
            if fetched is not None:
                return fetched
        return state

    def fetch(self, order: Order) -> VenueOrderState | None:
        """Return the venue's view of the order by client order id, or None if the venue does not know it."""
        try:
            raw = self._call(
                "fetch order",
                self.exchange.privateGetAccountOrdersClientClientId,
                {"client_id": order.client_order_id},
            )
        except ccxt.OrderNotFound:
            return None
        return self._state(raw)

    def cancel(self, order: Order) -> VenueOrderState:
        """Cancel by client order id and return the order's state afterwards."""
        try:
            self._call(
                "cancel order",
                self.exchange.cancel_order,
                order.venue_order_id,
                order.symbol,
                {"clientOrderId": order.client_order_id},
                uncertain=True,
            )
        except ccxt.OrderNotFound as error:
            raise BrokerRejected("venue_invalid", f"the venue does not know the order ({_message(error)})") from error
        state = self.fetch(order)
        if state is None:
            return VenueOrderState(OrderStatus.CANCELLED, order.venue_order_id)
        return state

    def balances(self) -> dict[str, Decimal]:
        raw = self._call("fetch balance", self.exchange.fetch_balance)
        free = raw.get("free") or {}
        return {code: _decimal(value) for code, value in free.items() if value is not None}

    def my_trades(self, since: datetime | None = None) -> list[VenueFill]:
        """Return own trades since ``since`` (for the account sync)."""
        since_ms = int(since.astimezone(UTC).timestamp() * 1000) if since else None
        trades = self._call("fetch trades", self.exchange.fetch_my_trades, None, since_ms)
        return [
            VenueFill(
                fill_id=f"{self.venue}-{trade['id']}",
                ts=ms_to_utc(trade["timestamp"]) if trade.get("timestamp") else utc_now(),
                quantity=_decimal(trade.get("amount")),
                price=_decimal(trade.get("price")),
                fee=_decimal((trade.get("fee") or {}).get("cost")),
                fee_asset=str((trade.get("fee") or {}).get("currency") or "EUR"),
            )
            for trade in trades
        ]


def build_live_broker(session: Session, config: TradingConfig) -> OneTradingBroker:
    """Build the live broker from the stored (encrypted) One Trading API key."""
    api_key = SecretStore().get(session, SECRET_ONETRADING_KEY)
    if not api_key:
        raise LiveTradingUnavailable("no One Trading API key stored: add it in Settings → Trading")
    settings = config.settings
    return OneTradingBroker(
        api_key,
        base_url=settings.onetrading_base_url,
        timeout_seconds=settings.live_timeout_seconds,
        venue=settings.live_venue,
    )
