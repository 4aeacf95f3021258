"""The live broker: One Trading (Bitpanda's exchange) through ccxt ``onetrading``.

Every order carries its client order id (a UUID) to the venue, so the executor can always ask
the venue about an order it is unsure of (``GET /account/orders/client/{client_id}``).
ccxt errors are sorted into three outcomes the executor acts on:
- ``BrokerRejected``: the venue refused; the order was not placed (INSUFFICIENT_FUNDS,
  INVALID_APIKEY, invalid order).
- ``BrokerUnavailable``: not placed, try again later (RATELIMIT, maintenance).
- ``BrokerUncertain``: the request may have reached the venue (timeout, lost connection):
  the order's fate is unknown until it is looked up by client order id.
"""

from __future__ import annotations

import logging
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
from core.security.secrets import SecretStore
from core.timeutil import ms_to_utc, utc_now

logger = logging.getLogger(__name__)

TIME_IN_FORCE = {
    TimeInForce.GTC: "GOOD_TILL_CANCELLED",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCELLED",
    TimeInForce.FOK: "FILL_OR_KILL",
}


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

    # -- helpers

    def _call(self, action: str, function: Any, *args: Any, uncertain: bool = False, **kwargs: Any) -> Any:
        """Run a ccxt call and translate its errors; ``uncertain`` marks calls that change state."""
        try:
            if self.exchange.markets is None:
                self.exchange.load_markets()
            return function(*args, **kwargs)
        except ccxt.InsufficientFunds as error:
            raise BrokerRejected(
                "insufficient_funds", f"the venue reports insufficient funds ({_message(error)})"
            ) from error
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as error:
            raise BrokerRejected("venue_auth", f"the venue refused the API key ({_message(error)})") from error
        except ccxt.OrderNotFound:
            raise
        except (ccxt.InvalidOrder, ccxt.BadSymbol, ccxt.BadRequest, ccxt.ArgumentsRequired) as error:
            raise BrokerRejected("venue_invalid", f"the venue refused the order ({_message(error)})") from error
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.OnMaintenance) as error:
            raise BrokerUnavailable(f"{action}: venue rate limit or maintenance ({_message(error)})") from error
        except (ccxt.RequestTimeout, ccxt.NetworkError) as error:
            if uncertain:
                raise BrokerUncertain(f"{action}: no answer ({_message(error)})") from error
            raise BrokerUnavailable(f"{action}: venue not reachable ({_message(error)})") from error
        except ccxt.ExchangeError as error:
            if uncertain:
                raise BrokerUncertain(f"{action}: venue error ({_message(error)})") from error
            raise BrokerUnavailable(f"{action}: venue error ({_message(error)})") from error

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
        raw_order = raw.get("order", raw) if isinstance(raw, dict) else {}
        if isinstance(raw_order, dict) and raw_order.get("reason"):
            reason = str(raw_order["reason"])
        return VenueOrderState(status, order.get("id"), filled, fills, reason=reason)

    # -- the Broker protocol

    def submit(self, order: Order) -> VenueOrderState:
        """Place ``order`` with its client order id; return the venue's answer."""
        if order.quantity is None:
            raise BrokerRejected("validation", "no quantity")
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        price: str | None = None
        if order.order_type is OrderType.MARKET:
            kind = "market"
        elif order.order_type is OrderType.LIMIT:
            kind = "limit"
            price = str(order.limit_price)
            params["timeInForce"] = TIME_IN_FORCE[order.time_in_force]
        elif order.order_type is OrderType.STOP_LIMIT:
            kind = "limit"
            price = str(order.limit_price)
            params["triggerPrice"] = str(order.stop_price)
        else:
            raise BrokerRejected("venue_invalid", "One Trading has no stop-market orders: use a stop-limit")
        raw = self._call(
            "create order",
            self.exchange.create_order,
            order.symbol,
            kind,
            order.side.value,
            str(order.quantity),
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
