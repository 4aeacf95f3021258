"""The executor: claims new orders, checks them, submits them, records fills, watches exits.

Concurrency and crash safety
- Claiming: PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` (two executors never take the same
  order); SQLite: the claim runs in a single writer transaction (``BEGIN IMMEDIATE``).
- Paper orders are checked, submitted and filled in ONE transaction with their ledger entry,
  position, fill row, events and audit rows: after a crash an order is either untouched (``new``)
  or completely processed.
- Live orders: the claim (``submitting``, with the executor's id and a lease) commits before the
  venue is called; the venue's answer is recorded in a second transaction. An order left in
  ``submitting`` has an unknown fate: at start-up, before anything else, the executor asks the
  venue by client order id and records what it finds; an order the venue never received goes
  back to ``new`` and is sent again under the same client order id.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.db.engine import Database
from core.db.wakeup import (
    ALL_CHANNELS,
    CHANNEL_ORDERS,
    CHANNEL_PRICES,
    CHANNEL_RISK,
    ChangeWaiter,
    Nudge,
    open_change_waiter,
)
from core.db.write_lock import serialise_writes
from core.errors import UncertainError
from core.execution.accounting import account_balances, apply_fill, set_status
from core.execution.broker import (
    Broker,
    BrokerRejected,
    BrokerUnavailable,
    BrokerUncertain,
    LiveTradingUnavailable,
    VenueOrderState,
)
from core.execution.enums import ExitReason, OrderSide, OrderType, TimeInForce
from core.execution.fill_model import (
    BarPrices,
    ExitLevels,
    advance_trailing_stop,
    check_exits,
    fill_price,
    stop_triggered,
)
from core.execution.live_stream import LiveOrderStream, StreamEvent, StreamFill, StreamOrderUpdate
from core.execution.models import ExitPlan, Order, OrderStatus, TradingMode
from core.execution.orders import (
    RESTING_STATUSES,
    TERMINAL_STATUSES,
    WORKING_STATUSES,
    AttachedExits,
    ExitKind,
    ExitResolutionError,
    OrderRequest,
    resolve_exit_levels,
)
from core.execution.paper import PaperBroker
from core.execution.pretrade import (
    RISK_CHECK_FAILED,
    RISK_UNAVAILABLE,
    ExposureClosed,
    OrderIntent,
    PostTradeHook,
    PreTradeCheck,
    run_pretrade_checks,
)
from core.execution.prices import PriceObservation, latest_price, observations_after
from core.execution.service import deny_order, place_order, reject_order
from core.execution.settings import TradingConfig, TradingSettings, load_trading_config
from core.market.models import Instrument
from core.market.query import load_candles
from core.market.trading_rules import RuleViolation, TradingRules, check_order, rules_for, store_rules
from core.observability.tracing import order_step
from core.portfolio.models import Position
from core.risk.alerts import raise_alert
from core.risk.guard import RiskGuard, RiskPostTradeHook
from core.risk.models import AlertKind, AlertSeverity
from core.security.demo_guard import RealAct, demo_login_exists, demo_refusal_message
from core.system.waiting import waiting
from core.timeutil import utc_now
from core.values import round_price, round_quantity

logger = logging.getLogger(__name__)

ACTOR = "executor"
CLAIM_LOCK = "konsens.executor.claim"
ACCOUNT_LOCK = "konsens.executor.account"
ATR_LENGTH = 14
CONFIG_TTL_SECONDS = 1.0
CURSOR_PERSIST_SECONDS = 60.0  # a price cursor held only in memory is written at least this often


class ReconciliationPending(UncertainError):
    """Orders of unknown fate could not be reconciled yet (venue unreachable): nothing else runs."""


LiveBrokerFactory = Callable[[Session, TradingConfig], Broker]
LiveStreamFactory = Callable[[Session, TradingConfig, Nudge], LiveOrderStream | None]


def _default_live_broker(session: Session, config: TradingConfig) -> Broker:
    from core.execution.live import build_live_broker

    return build_live_broker(session, config)


def _default_live_stream(session: Session, config: TradingConfig, nudge: Nudge) -> LiveOrderStream | None:
    """The account stream of the stored One Trading key (None without a key or with streaming off)."""
    from core.execution.settings import SECRET_ONETRADING_KEY
    from core.security.secrets import SecretStore

    settings = config.settings
    if not settings.live_stream:
        return None
    api_key = SecretStore().get(session, SECRET_ONETRADING_KEY)
    if not api_key:
        return None
    return LiveOrderStream(
        api_key,
        venue=settings.live_venue,
        nudge=nudge,
        base_url=settings.onetrading_base_url,
        ws_url=settings.onetrading_ws_url,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


ZERO = Decimal(0)


@dataclass(frozen=True)
class RestingPaperOrder:
    """What the per-quote check needs of a resting paper order (read when orders change, not per quote)."""

    order_id: int
    instrument_id: int
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    time_in_force: TimeInForce
    limit_price: Decimal | None
    stop_price: Decimal | None
    stored_cursor: datetime | None  # ``price_cursor`` as stored
    created_at: datetime

    def acts_on(self, bar: BarPrices[Decimal]) -> bool:
        """Whether ``bar`` fills or triggers the order (the paper broker's rule; slippage moves no decision)."""
        if self.time_in_force is not TimeInForce.GTC:
            return True  # IOC/FOK never rest; let the full check decide
        triggered = self.status is OrderStatus.TRIGGERED and self.order_type is OrderType.STOP_LIMIT
        order_type = OrderType.LIMIT if triggered else self.order_type
        try:
            price = fill_price(
                self.side, order_type, bar, slippage=ZERO, limit_price=self.limit_price, stop_price=self.stop_price
            )
        except ValueError:
            return True  # a malformed order: the full check records what is wrong
        if price is not None:
            return True
        return (
            order_type is OrderType.STOP_LIMIT
            and self.stop_price is not None
            and stop_triggered(self.side, bar, self.stop_price)
        )


@dataclass(frozen=True)
class WatchedExit:
    """What the per-quote check needs of an active exit plan."""

    plan_id: int
    instrument_id: int
    side: OrderSide
    levels: ExitLevels[Decimal]
    stored_cursor: datetime | None  # ``last_price_ts`` as stored

    def acts_on(self, bar: BarPrices[Decimal]) -> bool:
        """Whether ``bar`` triggers an exit or moves the trailing stop (then the plan is written)."""
        if check_exits(self.side, bar, self.levels, slippage=ZERO) is not None:
            return True
        return advance_trailing_stop(self.side, bar, self.levels).trailing_stop != self.levels.trailing_stop


@dataclass(frozen=True)
class WatchSet:
    """The resting orders and active exit plans, held in memory between order changes."""

    paper: tuple[RestingPaperOrder, ...] = ()
    live: tuple[int, ...] = ()
    exits: tuple[WatchedExit, ...] = ()
    unjudged: tuple[int, ...] = ()  # paper orders the per-quote check cannot judge (no instrument)

    def __bool__(self) -> bool:
        return bool(self.paper or self.live or self.exits or self.unjudged)


def load_watch_set(session: Session) -> WatchSet:
    """Read the resting orders and active exit plans (two column queries, no ORM objects)."""
    paper: list[RestingPaperOrder] = []
    live: list[int] = []
    unjudged: list[int] = []
    for row in session.execute(
        select(
            Order.id,
            Order.mode,
            Order.instrument_id,
            Order.side,
            Order.order_type,
            Order.status,
            Order.time_in_force,
            Order.limit_price,
            Order.stop_price,
            Order.price_cursor,
            Order.created_at,
        )
        .where(Order.status.in_(list(RESTING_STATUSES)))
        .order_by(Order.id)
    ).all():
        if row.mode is TradingMode.LIVE:
            live.append(int(row.id))
        elif row.instrument_id is not None:
            paper.append(
                RestingPaperOrder(
                    int(row.id),
                    int(row.instrument_id),
                    row.side,
                    row.order_type,
                    row.status,
                    row.time_in_force,
                    row.limit_price,
                    row.stop_price,
                    row.price_cursor,
                    row.created_at,
                )
            )
        else:
            unjudged.append(int(row.id))  # no instrument: the full check handles (and reports) it
    exits = [
        WatchedExit(
            int(row.id),
            int(row.instrument_id),
            row.position_side,
            ExitLevels(row.stop_loss, row.take_profit, row.trailing_distance, row.trailing_stop),
            row.last_price_ts,
        )
        for row in session.execute(
            select(
                ExitPlan.id,
                ExitPlan.instrument_id,
                ExitPlan.position_side,
                ExitPlan.stop_loss,
                ExitPlan.take_profit,
                ExitPlan.trailing_distance,
                ExitPlan.trailing_stop,
                ExitPlan.last_price_ts,
            )
            .where(ExitPlan.active.is_(True))
            .order_by(ExitPlan.id)
        ).all()
    ]
    return WatchSet(tuple(paper), tuple(live), tuple(exits), tuple(unjudged))


@dataclass
class PassStats:
    submitted: int = 0
    filled: int = 0
    rejected: int = 0
    cancelled: int = 0
    reconciled: int = 0
    exits_triggered: int = 0
    stream_fills: int = 0
    stream_updates: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Executor:
    """One executor instance (the worker runs one; tests may run several)."""

    database: Database
    settings: TradingSettings = field(default_factory=TradingSettings)
    live_broker_factory: LiveBrokerFactory = _default_live_broker
    instance_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    reconciled: bool = False
    checks: list[PreTradeCheck] | None = None
    hooks: list[PostTradeHook] | None = None
    stats: PassStats = field(default_factory=PassStats)
    _live_broker: Broker | None = None
    _last_watch: float = 0.0
    _last_safety_poll: float = 0.0
    _watch_pending: bool = True
    _change_waiter: ChangeWaiter | None = None
    wakeups: int = 0
    _backoff_until: float = 0.0
    _cached_config: tuple[float, TradingConfig] | None = None
    live_stream_factory: LiveStreamFactory = _default_live_stream
    _stream: LiveOrderStream | None = None
    _stream_checked_at: float = float("-inf")
    _nudge: Nudge | None = None
    _watch_set: WatchSet = field(default_factory=WatchSet)  # re-read when orders change (or the safety poll)
    _watchers_stale: bool = True
    watch_set_loads: int = 0  # how often the resting orders and exit plans were read
    quiet_checks: int = 0  # per-quote checks that found nothing to do (no session, no ORM objects)
    _cursors: dict[tuple[str, int], tuple[datetime, float]] = field(default_factory=dict)
    _last_live_poll: float = float("-inf")
    _last_stale_check: float = float("-inf")
    locked_checks: int = 0  # watch steps that took the write lock (the rest only read)

    def __post_init__(self) -> None:
        # The risk guard is part of the executor: imported, not looked up by name, so an executor
        # without it cannot start; an empty list of checks denies every order (fail closed).
        if self.checks is None:
            self.checks = [RiskGuard()]
        if self.hooks is None:
            self.hooks = [RiskPostTradeHook()]

    # ----------------------------------------------------------------- the loop

    def run_pass(self, *, stop_event: threading.Event | None = None, until_idle: bool = False) -> dict[str, int]:
        """Reconcile (once, first), then work for one pass, waiting for changes in between; return what was done.

        Between bursts of work the executor blocks in its change waiter (``core/db/wakeup.py``):
        PostgreSQL ``LISTEN`` (new orders, cancels, risk states, prices), SQLite ``PRAGMA
        data_version``. New orders and cancels are looked for on every change; resting orders
        and exits (``watch``) on new prices, at most every ``executor_watch_seconds``. A slow
        safety poll (``executor_safety_poll_seconds``) does both even if no change was seen.
        """
        self.stats = PassStats()
        if not self.reconciled:
            self.reconcile()
        if until_idle:
            while True:
                worked = self.process_available()
                self._last_watch = time.monotonic()
                self._last_stale_check = float("-inf")  # --once: every look includes expired leases
                worked = self.watch() or worked
                if not worked:
                    return self.stats.as_dict()
        settings = self.settings
        deadline = time.monotonic() + settings.executor_pass_seconds
        # Listen before the first look, so an order committed in between is never missed.
        waiter = self._waiter()
        self._ensure_stream()
        changed: set[str] = set(ALL_CHANNELS)  # look once at the start of every pass
        while True:
            now = time.monotonic()
            safety_due = now - self._last_safety_poll >= settings.executor_safety_poll_seconds
            if safety_due:
                self._last_safety_poll = now
                changed |= set(ALL_CHANNELS)
                self._watchers_stale = True
                self._ensure_stream()
            worked = self._drain_stream() if self._stream is not None else False
            if changed & {CHANNEL_ORDERS, CHANNEL_RISK}:
                self._watchers_stale = True
                worked = self.process_available() or worked
            if worked:
                self._watchers_stale = True
            # New prices matter only while something waits for them (resting orders, armed exits).
            if (CHANNEL_PRICES in changed or worked) and self._has_watchers():
                self._watch_pending = True
            if self._watch_pending and (safety_due or now - self._last_watch >= settings.executor_watch_seconds):
                self._watch_pending = False
                self._last_watch = now
                worked = self.watch(cached=True) or worked
            if (stop_event is not None and stop_event.is_set()) or now >= deadline:
                break
            if worked:
                changed = {CHANNEL_ORDERS}  # more may be queued
                continue
            wake_at = min(deadline, self._last_safety_poll + settings.executor_safety_poll_seconds)
            if self._watch_pending:
                wake_at = min(wake_at, self._last_watch + settings.executor_watch_seconds)
            with waiting():  # not work: the worker's "last pass" leaves it out
                changed = waiter.wait(max(0.0, wake_at - time.monotonic()), stop_event, self._nudge)
            self.wakeups += 1
        return self.stats.as_dict()

    def _has_watchers(self) -> bool:
        """Whether resting orders or active exit plans exist (cached until orders change or the safety poll)."""
        return bool(self._watched())

    def _watched(self) -> WatchSet:
        """The resting orders and active exit plans, re-read only when marked stale."""
        if self._watchers_stale:
            self._watchers_stale = False
            self._watch_set = self.database.run(load_watch_set)
            self.watch_set_loads += 1
        return self._watch_set

    def _waiter(self) -> ChangeWaiter:
        if self._change_waiter is None:
            self._change_waiter = open_change_waiter(
                self.database, ALL_CHANNELS, max_interval=self.settings.executor_poll_seconds
            )
        return self._change_waiter

    def close(self) -> None:
        """Release the change waiter's connection and stop the live account stream."""
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
        if self._change_waiter is not None:
            self._change_waiter.close()
            self._change_waiter = None
        if self._nudge is not None:
            self._nudge.close()
            self._nudge = None

    def process_available(self) -> bool:
        """Carry out cancel requests and submit new orders until none is left; return whether any work was done."""
        worked = False
        while self._next_cancel():
            worked = True
        while time.monotonic() >= self._backoff_until and self._next_new_order():
            worked = True
        return worked

    def watch(self, *, cached: bool = False) -> bool:
        """Check resting orders (paper: new prices; live: the venue) and the exits of positions.

        Paper orders and exit plans are first judged in memory against the prices that arrived
        since their cursors (one connection, column queries per instrument; no ORM objects): only
        those the prices fill, trigger or move — or whose cursor is due to be written — take the
        full check under the write lock. ``cached`` uses the resting orders held since the last
        order change (the executor's loop); without it they are read again first.

        Return True if an exit was triggered (a new order to work on).
        """
        if not cached:
            self._watchers_stale = True
        watched = self._watched()
        triggered_before = self.stats.exits_triggered
        locked_before = self.locked_checks
        now = time.monotonic()
        streaming = self._stream is not None and self._stream.status.connected
        live_due = not streaming or now - self._last_live_poll >= self.settings.live_poll_seconds
        if live_due:
            self._last_live_poll = now
            for order_id in watched.live:
                self._poll_order(order_id, live=True)
        for order_id in watched.unjudged:
            self._poll_order(order_id, live=False)
        orders, plans = self._acting(watched)
        for order_id in orders:
            self._poll_order(order_id, live=False, judged=True)
        for plan_id in plans:
            self._watch_exit(plan_id, judged=True)
        # Leases end after `lease_seconds` (60 s): looking for expired ones at the safety-poll pace is enough.
        if now - self._last_stale_check >= self.settings.executor_safety_poll_seconds:
            self._last_stale_check = now
            self._reconcile_stale_submissions()
        if self.locked_checks != locked_before:
            self._watchers_stale = True  # something was written: read the resting orders again
        return self.stats.exits_triggered > triggered_before

    def _acting(self, watched: WatchSet) -> tuple[list[int], list[int]]:
        """The paper orders and exit plans that new prices act on (or whose cursor is due to be written).

        The rest only advance their cursor in memory. One connection; per instrument the
        observations after the earliest cursor are read once.
        """
        if not watched.paper and not watched.exits:
            return [], []
        earliest: dict[int, datetime] = {}
        cursors: dict[tuple[str, int], datetime | None] = {}
        for order in watched.paper:
            cursor = self._cursor("order", order.order_id, order.stored_cursor) or order.created_at
            cursors["order", order.order_id] = cursor
            earliest[order.instrument_id] = min(cursor, earliest.get(order.instrument_id, cursor))
        for plan in watched.exits:
            plan_cursor = self._cursor("plan", plan.plan_id, plan.stored_cursor)
            cursors["plan", plan.plan_id] = plan_cursor
            if plan_cursor is not None:
                earliest[plan.instrument_id] = min(plan_cursor, earliest.get(plan.instrument_id, plan_cursor))
        observations: dict[int, list[PriceObservation]] = {}
        with self.database.engine.connect() as connection:
            for instrument_id, after in earliest.items():
                observations[instrument_id] = observations_after(connection, instrument_id, after)
        acting_orders = [
            order.order_id
            for order in watched.paper
            if self._judged_acting(
                "order",
                order.order_id,
                cursors["order", order.order_id] or order.created_at,
                order.stored_cursor,
                observations.get(order.instrument_id, []),
                order.acts_on,
            )
        ]
        acting_plans = [
            plan.plan_id
            for plan in watched.exits
            if self._judged_acting(
                "plan",
                plan.plan_id,
                cursors["plan", plan.plan_id],
                plan.stored_cursor,
                observations.get(plan.instrument_id, []),
                plan.acts_on,
            )
        ]
        return acting_orders, acting_plans

    def _judged_acting(
        self,
        kind: str,
        key: int,
        cursor: datetime | None,
        stored_cursor: datetime | None,
        observations: Sequence[PriceObservation],
        acts_on: Callable[[BarPrices[Decimal]], bool],
    ) -> bool:
        """Judge one resting order or exit plan (``kind`` ``order``/``plan``) in memory against ``observations``.

        True if it needs the full check: it has no cursor yet (the full check sets one), a price
        newer than its cursor acts on it, or its advanced cursor is due to be written. Otherwise the
        cursor advances in memory only and the check counts as quiet.
        """
        if cursor is None:
            return True
        newer = [item for item in observations if item.ts > cursor]
        if any(acts_on(item.bar) for item in newer):
            return True
        if newer:
            cursor = max(cursor, newer[-1].ts)
        if self._hold_cursor(kind, key, cursor, stored_cursor):
            return True
        self.quiet_checks += 1
        return False

    def _config(self, session: Session) -> TradingConfig:
        """The trading configuration, re-read at most once a second."""
        now = time.monotonic()
        if self._cached_config is None or now - self._cached_config[0] > CONFIG_TTL_SECONDS:
            self._cached_config = (now, load_trading_config(session, self.settings))
        return self._cached_config[1]

    def _ids(self, query: object) -> list[int]:
        return list(self.database.run(lambda session: list(session.scalars(query))))  # type: ignore[call-overload]

    # ----------------------------------------------------------------- claiming

    def _lock_next(self, session: Session, query: object) -> Order | None:
        """Return the first order of ``query`` locked for this transaction, skipping orders others hold."""
        if session.get_bind().dialect.name == "postgresql":
            return session.scalar(query.with_for_update(skip_locked=True).limit(1))  # type: ignore[attr-defined]
        serialise_writes(session, CLAIM_LOCK)
        return session.scalar(query.limit(1))  # type: ignore[attr-defined]

    def _next_new_order(self) -> bool:
        # A cheap read first, so an idle executor takes no write lock.
        has_work = self.database.run(
            lambda session: session.scalar(select(Order.id).where(Order.status == OrderStatus.NEW).limit(1))
        )
        if has_work is None:
            return False
        live_order_id: int | None = None
        with self.database.session() as session:
            order = self._lock_next(
                session,
                select(Order)
                .where(Order.status == OrderStatus.NEW, Order.cancel_requested_at.is_(None))
                .order_by(Order.id),
            )
            if order is None:
                return False
            config = self._config(session)
            if order.mode is TradingMode.PAPER:
                self._process_paper(session, order, config)
            else:
                live_order_id = self._claim_live(session, order, config)
        if live_order_id is not None:
            self._submit_live(live_order_id)
        return True

    # ----------------------------------------------------------------- checks

    @order_step("executor.risk_checks")
    def _prepare(self, session: Session, order: Order, config: TradingConfig) -> Instrument | None:
        """Check an order before it is sent; deny it (and return None) if it must not be.

        The quantity is rounded down to the instrument's lot here and stored: the stored figure is
        what is sent. Venue rules (tick, lot, minimum quantity and value), the built-in risk guard
        (fail closed) and the balance are checked in this order; a refusal is ``denied`` with the
        rule that refused it.
        """

        def deny(rule: str, reason: str) -> None:
            deny_order(session, order, rule=rule, reason=reason, actor=ACTOR)

        instrument = session.get(Instrument, order.instrument_id) if order.instrument_id is not None else None
        if instrument is None:
            deny("validation", f"unknown instrument {order.symbol!r}")
            return None
        if order.mode is TradingMode.LIVE:
            if not config.live_enabled:
                deny("live_disabled", "live trading is disabled")
                return None
            if not order.live_confirmed:
                deny("validation", "live order was not confirmed")
                return None
            if demo_login_exists(session):
                deny("demo_mode", demo_refusal_message(RealAct.LIVE_ORDER))
                return None
        latest = latest_price(session, instrument.id)
        reference = order.limit_price or order.stop_price or (latest.price if latest else None)
        if reference is None or not reference.is_finite() or reference <= 0:
            deny("validation", f"no price known for {instrument.symbol}")
            return None
        rules = self._rules(session, order, instrument, config)
        if order.quantity is None:
            if order.amount_eur is None or order.amount_eur <= 0:
                deny("validation", "quantity must be positive")
                return None
            order.quantity = round_quantity(order.amount_eur / reference, rules.lot_size)
        if order.quantity <= 0:
            deny("validation", "quantity must be positive")
            return None
        if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.limit_price is None:
            deny("validation", "limit price missing")
            return None
        if order.order_type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET) and order.stop_price is None:
            deny("validation", "stop price missing")
            return None
        try:
            order.quantity = check_order(
                rules,
                symbol=instrument.symbol,
                quote=instrument.quote,
                quantity=order.quantity,
                prices={"limit price": order.limit_price, "stop price": order.stop_price},
                reference_price=reference,
            )
        except RuleViolation as violation:
            deny(violation.rule, violation.reason)
            return None
        position = session.get(Position, (order.account, instrument.id))
        held = position.quantity if position is not None else Decimal(0)
        notional = order.quantity * reference
        intent = OrderIntent(
            client_order_id=order.client_order_id,
            account=order.account,
            instrument_id=instrument.id,
            symbol=instrument.symbol,
            side=order.side,
            order_type=order.order_type,
            quantity=order.quantity,
            reference_price_eur=reference,
            notional_eur=notional,
            is_live=order.is_live,
            reduces_exposure=order.side is OrderSide.SELL and held > 0,
            ts=utc_now(),
        )
        verdict = run_pretrade_checks(session, intent, self.checks or [])
        if not verdict.allowed:
            deny(verdict.rule or "risk", verdict.reason or "refused")
            if verdict.rule in (RISK_UNAVAILABLE, RISK_CHECK_FAILED):
                self._alert_risk_failure(session, intent, verdict.reason or "")
            return None
        problem = self._balance_problem(session, order, instrument, reference, config)
        if problem is not None:
            deny("insufficient_funds", problem)
            return None
        return instrument

    def _rules(self, session: Session, order: Order, instrument: Instrument, config: TradingConfig) -> TradingRules:
        """The instrument's order rules: the live venue's own (stored on the instrument), else the stored/defaults."""
        if order.mode is TradingMode.LIVE:
            venue_rules = getattr(self._live(session, config), "trading_rules", None)
            rules = venue_rules(instrument.symbol) if venue_rules is not None else None
            if rules is not None:
                store_rules(instrument, rules)
                return rules
        return rules_for(instrument)

    def _alert_risk_failure(self, session: Session, intent: OrderIntent, reason: str) -> None:
        """Raise a critical alert: the risk guard could not run, so the order was denied."""
        with session.begin_nested():
            raise_alert(
                session,
                kind=AlertKind.ORDER_BLOCKED,
                severity=AlertSeverity.CRITICAL,
                subject=f"order:{intent.client_order_id}",
                message=f"Order {intent.client_order_id} denied: the risk guard could not run ({reason})",
                dedupe_key=f"risk_failure:{intent.client_order_id}",
                details={"account": intent.account, "live": intent.is_live},
                now=intent.ts,
            )

    def _balance_problem(
        self, session: Session, order: Order, instrument: Instrument, reference: Decimal, config: TradingConfig
    ) -> str | None:
        quantity = order.quantity or Decimal(0)
        if order.mode is TradingMode.LIVE:
            balances = self._live(session, config).balances()
        else:
            balances = account_balances(session, order.account, assets=(instrument.quote, instrument.base))
        cash = balances.get(instrument.quote, Decimal(0))
        held = balances.get(instrument.base, Decimal(0))
        reserved_cash, reserved_asset = self._reserved(session, order, instrument, config)
        if order.side is OrderSide.BUY:
            fee_rate = config.fee_schedule(order.venue if order.is_live else config.paper_fee_venue).taker
            needed = quantity * reference * (1 + fee_rate)
            available = cash - reserved_cash
            if needed > available:
                return (
                    f"insufficient funds: needs {needed:.2f} {instrument.quote}, "
                    f"{max(available, Decimal(0)):.2f} available"
                )
            return None
        available_asset = held - reserved_asset
        if quantity > available_asset:
            return f"insufficient {instrument.base}: sells {quantity}, {max(available_asset, Decimal(0))} available"
        return None

    def _reserved(
        self, session: Session, order: Order, instrument: Instrument, config: TradingConfig
    ) -> tuple[Decimal, Decimal]:
        """Cash and asset held by this account's other working orders in the instrument's currencies.

        A working buy holds its value plus the taker fee, as the balance check of a new buy counts it.
        """
        cash = asset = Decimal(0)
        others = session.scalars(
            select(Order).where(
                Order.account == order.account,
                Order.status.in_(list(WORKING_STATUSES)),
                Order.id != order.id,
            )
        )
        for other in others:
            remaining = other.remaining_quantity
            if remaining <= 0:
                continue
            if other.side is OrderSide.BUY:
                other_instrument = (
                    instrument if other.instrument_id == instrument.id else session.get(Instrument, other.instrument_id)
                )
                if other_instrument is None or other_instrument.quote != instrument.quote:
                    continue
                # A working market buy has no price of its own: hold cash at the latest price.
                price = other.limit_price or other.stop_price
                if price is None:
                    latest = latest_price(session, other_instrument.id)
                    price = latest.price if latest is not None else Decimal(0)
                fee_rate = config.fee_schedule(other.venue if other.is_live else config.paper_fee_venue).taker
                cash += remaining * price * (1 + fee_rate)
            elif other.side is OrderSide.SELL and other.instrument_id == instrument.id:
                asset += remaining
        return cash, asset

    # ----------------------------------------------------------------- paper

    @order_step("executor.claim")
    def _process_paper(self, session: Session, order: Order, config: TradingConfig) -> None:
        # One account's orders are checked and filled one at a time across executors, so two
        # executors can never both spend the same cash or update the same position concurrently.
        serialise_writes(session, f"{ACCOUNT_LOCK}:{order.account}")
        instrument = self._prepare(session, order, config)
        if instrument is None:
            self.stats.rejected += 1
            return
        broker = PaperBroker(session, config)
        set_status(session, order, OrderStatus.SUBMITTING, actor=ACTOR)
        order.submitted_at = utc_now()
        order.claimed_by = self.instance_id
        # A paper submission commits together with its outcome (fill, expiry or resting), which is
        # audited; the submission itself is in order_events. Live submissions are audited too.
        self.stats.submitted += 1
        state = broker.submit(order)
        if state.status is OrderStatus.EXPIRED:
            set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="accepted by the paper venue")
            self._record_state(session, order, instrument, state)
            return
        set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="accepted by the paper venue")
        self._record_state(session, order, instrument, state)

    def _cursor(self, kind: str, key: int, stored: datetime | None) -> datetime | None:
        """The newest price cursor of an order or exit plan: the stored one or the one held in memory."""
        held = self._cursors.get((kind, key))
        if held is None or (stored is not None and stored >= held[0]):
            return stored
        return held[0]

    def _hold_cursor(self, kind: str, key: int, cursor: datetime | None, stored: datetime | None) -> bool:
        """Keep an advanced cursor in memory; return True when it is due to be written (then it is dropped)."""
        if cursor is None or (stored is not None and cursor <= stored):
            return False
        held = self._cursors.get((kind, key))
        since = held[1] if held is not None else time.monotonic()
        if time.monotonic() - since >= CURSOR_PERSIST_SECONDS:
            self._cursors.pop((kind, key), None)
            return True
        self._cursors[(kind, key)] = (cursor, since)
        return False

    def _paper_unchanged(self, order_id: int) -> bool:
        """Check a resting paper order without the write lock; True if nothing happens (nothing to write).

        The order is evaluated on a detached copy from the newest cursor (stored or in memory); when the
        prices fill, trigger or expire it, or the cursor is due to be written, the caller re-checks under
        the lock.
        """
        with self.database.session() as session:
            order = session.scalar(select(Order).where(Order.id == order_id, Order.status.in_(list(RESTING_STATUSES))))
            if order is None:
                return True
            if order.mode is not TradingMode.PAPER:
                return False
            stored = order.price_cursor
            session.expunge(order)
            order.price_cursor = self._cursor("order", order_id, stored)
            state = PaperBroker(session, self._config(session)).poll(order)
            session.rollback()
        if state.status is not OrderStatus.OPEN or state.fills:
            return False
        return not self._hold_cursor("order", order_id, state.price_cursor, stored)

    def _poll_order(self, order_id: int, *, live: bool | None = None, judged: bool = False) -> None:
        """Bring a resting order up to date (``judged``: the per-quote check found the prices act on it)."""
        fetched: VenueOrderState | None = None
        if live is None:
            live = self.database.run(
                lambda session: session.scalar(select(Order.mode).where(Order.id == order_id)) is TradingMode.LIVE
            )
        if live:
            # Ask the venue first, outside any transaction: no write lock is held during a REST call.
            with self.database.session() as session:
                order_row = session.get(Order, order_id)
                if order_row is None or order_row.status not in RESTING_STATUSES:
                    return
                broker = self._live(session, self._config(session))
                session.expunge(order_row)
            try:
                fetched = broker.fetch(order_row)
            except (BrokerUnavailable, BrokerUncertain) as error:
                logger.warning("Could not poll live order %s: %s", order_row.client_order_id, error)
                return
            if fetched is None:
                return
        elif not judged and self._paper_unchanged(order_id):
            return
        self.locked_checks += 1
        with self.database.session() as session:
            order = self._lock_next(
                session,
                select(Order).where(Order.id == order_id, Order.status.in_(list(RESTING_STATUSES))),
            )
            if order is None:
                return
            serialise_writes(session, f"{ACCOUNT_LOCK}:{order.account}")
            instrument = session.get(Instrument, order.instrument_id)
            if instrument is None:
                return
            config = self._config(session)
            if order.mode is TradingMode.PAPER:
                order.price_cursor = self._cursor("order", order_id, order.price_cursor)
                self._cursors.pop(("order", order_id), None)
                state: VenueOrderState | None = PaperBroker(session, config).poll(order)
            else:
                state = fetched
            if state is not None:
                self._record_state(session, order, instrument, state)

    # ----------------------------------------------------------------- recording

    @order_step("executor.record_fills")
    def _record_state(self, session: Session, order: Order, instrument: Instrument, state: VenueOrderState) -> None:
        """Bring ``order`` in line with the venue's view: fills first, then the status."""
        if state.venue_order_id:
            order.venue_order_id = state.venue_order_id
        if state.price_cursor is not None:
            order.price_cursor = state.price_cursor
        events: list[ExposureClosed] = []
        for fill in state.fills:
            result = apply_fill(session, order, fill, instrument, actor=ACTOR)
            if result is None:
                continue
            self.stats.filled += 1
            if result[1] is not None:
                events.append(result[1])
            if order.side is OrderSide.BUY and order.exits:
                self._create_exit_plan(session, order, instrument, fill.price, fill.quantity, fill.ts)
            elif order.side is OrderSide.SELL:
                self._trim_exit_plans(session, order.account, instrument.id)
        target = state.status
        if target is OrderStatus.SUBMITTING or target is order.status:
            pass
        elif target in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            pass  # set by the fills themselves
        elif target is OrderStatus.OPEN and order.status in (
            OrderStatus.TRIGGERED,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.PENDING_CANCEL,
        ):
            pass
        elif target is OrderStatus.TRIGGERED and order.status is not OrderStatus.OPEN:
            pass  # a stop that triggered and already (partly) filled, or is being cancelled
        elif target is OrderStatus.REJECTED:
            reject_order(session, order, rule="venue", reason=state.reason or "rejected by the venue", actor=ACTOR)
            self.stats.rejected += 1
        else:
            set_status(session, order, target, actor=ACTOR, note=state.reason)
            if target is OrderStatus.CANCELLED:
                self.stats.cancelled += 1
                append_audit(
                    session,
                    actor=ACTOR,
                    action=AuditAction.ORDER_CANCELLED,
                    subject=f"order:{order.client_order_id}",
                    details={"filled": order.filled_quantity},
                )
            elif target is OrderStatus.EXPIRED:
                append_audit(
                    session,
                    actor=ACTOR,
                    action=AuditAction.ORDER_EXPIRED,
                    subject=f"order:{order.client_order_id}",
                    details={"reason": state.reason},
                )
        session.flush()
        for event in events:
            self._run_hooks(session, event)

    def _run_hooks(self, session: Session, event: ExposureClosed) -> None:
        for hook in self.hooks or []:
            try:
                with session.begin_nested():
                    hook.on_exposure_closed(session, event)
            except Exception as error:  # a hook must never undo a recorded fill
                logger.error("Post-trade hook %s failed: %s", type(hook).__name__, error)

    # ----------------------------------------------------------------- exits

    def _create_exit_plan(
        self, session: Session, order: Order, instrument: Instrument, price: Decimal, quantity: Decimal, ts: datetime
    ) -> None:
        exits = AttachedExits.from_json(order.exits)
        if exits.is_empty():
            return
        specs = (exits.stop_loss, exits.take_profit, exits.trailing_stop)
        # Only ATR multiples need the ATR, which loads candles and computes an indicator.
        atr = instrument_atr(session, instrument.id) if any(s and s.kind is ExitKind.ATR for s in specs) else None
        try:
            levels = resolve_exit_levels(OrderSide.BUY, price, exits, atr=atr)
        except ExitResolutionError as error:
            append_audit(
                session,
                actor=ACTOR,
                action=AuditAction.EXIT_TRIGGERED,
                subject=f"order:{order.client_order_id}",
                details={"error": f"attached exits not armed: {error}"},
            )
            logger.warning("Exits of %s not armed: %s", order.client_order_id, error)
            return
        plan = session.scalar(select(ExitPlan).where(ExitPlan.entry_order_id == order.id))
        now = utc_now()
        if plan is None:
            plan = ExitPlan(
                entry_order_id=order.id,
                account=order.account,
                instrument_id=instrument.id,
                position_side=OrderSide.BUY,
                quantity=Decimal(0),
                last_price_ts=ts,
                active=True,
                created_at=now,
            )
            session.add(plan)
        plan.quantity = (plan.quantity or Decimal(0)) + quantity
        plan.stop_loss = levels.stop_loss
        plan.take_profit = levels.take_profit
        plan.trailing_distance = levels.trailing_distance
        plan.trailing_stop = levels.trailing_stop
        plan.updated_at = now

    def _trim_exit_plans(self, session: Session, account: str, instrument_id: int) -> None:
        """Keep the armed exits within what is still held after a sell (oldest plans shrink first).

        A position closed by any sell (a signal, a manual order, another exit) ends its exit plans,
        so a later position in the same instrument is never stopped out at an old level.
        """
        position = session.get(Position, (account, instrument_id))
        held = position.quantity if position is not None else Decimal(0)
        plans = session.scalars(
            select(ExitPlan)
            .where(ExitPlan.account == account, ExitPlan.instrument_id == instrument_id, ExitPlan.active.is_(True))
            .order_by(ExitPlan.id.desc())
        ).all()
        now = utc_now()
        for plan in plans:  # newest first keep their cover; the oldest give way
            covered = min(plan.quantity, held)
            held -= covered
            if covered <= 0:
                plan.active = False
            plan.quantity = covered if covered > 0 else plan.quantity
            plan.updated_at = now

    def _exit_unchanged(self, plan_id: int) -> bool:
        """Check an exit plan against new prices without the write lock; True if nothing is to be written."""
        with self.database.session() as session:
            plan = session.get(ExitPlan, plan_id)
            if plan is None or not plan.active:
                return True
            levels: ExitLevels[Decimal] = ExitLevels(
                plan.stop_loss, plan.take_profit, plan.trailing_distance, plan.trailing_stop
            )
            config = self._config(session)
            stored = plan.last_price_ts
            cursor = self._cursor("plan", plan_id, stored) or stored
            side = plan.position_side
            observations = observations_after(session, plan.instrument_id, cursor)
            session.rollback()
        for observation in observations:
            if check_exits(side, observation.bar, levels, slippage=config.paper_slippage) is not None:
                return False
            moved = advance_trailing_stop(side, observation.bar, levels)
            if moved.trailing_stop != levels.trailing_stop:
                return False
            cursor = observation.ts
        return not self._hold_cursor("plan", plan_id, cursor, stored)

    def _watch_exit(self, plan_id: int, *, judged: bool = False) -> None:
        if not judged and self._exit_unchanged(plan_id):
            return
        self.locked_checks += 1
        with self.database.session() as session:
            plan = self._lock_plan(session, plan_id)
            if plan is None or not plan.active:
                return
            levels: ExitLevels[Decimal] = ExitLevels(
                plan.stop_loss, plan.take_profit, plan.trailing_distance, plan.trailing_stop
            )
            config = self._config(session)
            cursor = self._cursor("plan", plan_id, plan.last_price_ts) or plan.last_price_ts
            self._cursors.pop(("plan", plan_id), None)
            if cursor != plan.last_price_ts:
                plan.last_price_ts = cursor
            for observation in observations_after(session, plan.instrument_id, cursor):
                hit = check_exits(plan.position_side, observation.bar, levels, slippage=config.paper_slippage)
                if hit is not None:
                    self._trigger_exit(session, plan, hit.reason, levels, observation.ts)
                    return
                levels = advance_trailing_stop(plan.position_side, observation.bar, levels)
                plan.trailing_stop = levels.trailing_stop
                plan.last_price_ts = observation.ts
                plan.updated_at = utc_now()

    def _lock_plan(self, session: Session, plan_id: int) -> ExitPlan | None:
        query = select(ExitPlan).where(ExitPlan.id == plan_id)
        if session.get_bind().dialect.name == "postgresql":
            return session.scalar(query.with_for_update(skip_locked=True))
        serialise_writes(session, CLAIM_LOCK)
        return session.scalar(query)

    def _trigger_exit(
        self, session: Session, plan: ExitPlan, reason: ExitReason, levels: ExitLevels[Decimal], at: datetime
    ) -> None:
        plan.active = False
        plan.updated_at = utc_now()
        position = session.get(Position, (plan.account, plan.instrument_id))
        entry = session.get(Order, plan.entry_order_id)
        instrument = session.get(Instrument, plan.instrument_id)
        held = position.quantity if position is not None else Decimal(0)
        quantity = min(plan.quantity, held)
        if entry is None or instrument is None or quantity <= 0:
            return
        if entry.mode is TradingMode.LIVE:
            order_type, limit, stop = OrderType.MARKET, None, None
        elif reason is ExitReason.TAKE_PROFIT:
            order_type, limit, stop = OrderType.LIMIT, levels.take_profit, None
        else:
            level = levels.stop_loss if reason is ExitReason.STOP_LOSS else levels.trailing_stop
            order_type, limit, stop = OrderType.STOP_MARKET, None, level
        # Computed levels go onto the instrument's tick in the safe direction for a sell.
        tick = rules_for(instrument).tick_size
        limit = None if limit is None else round_price(limit, tick, down=False)
        stop = None if stop is None else round_price(stop, tick, down=True)
        exit_order = place_order(
            session,
            OrderRequest(
                symbol=instrument.symbol,
                side=OrderSide.SELL,
                order_type=order_type,
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
                live=entry.mode is TradingMode.LIVE,
                live_confirmed=entry.mode is TradingMode.LIVE,  # confirmed with the entry's attached exits
            ),
            actor=ACTOR,
            exit_reason=reason,
            parent_order_id=entry.id,
            settings=self.settings,
        )
        # The paper fill is evaluated on the observation that triggered the exit.
        exit_order.price_cursor = at - timedelta(microseconds=1)
        plan.exit_order_id = exit_order.id
        append_audit(
            session,
            actor=ACTOR,
            action=AuditAction.EXIT_TRIGGERED,
            subject=f"order:{entry.client_order_id}",
            details={"reason": reason.value, "exit_order": exit_order.client_order_id, "quantity": quantity},
        )
        self.stats.exits_triggered += 1

    # ----------------------------------------------------------------- cancels

    def _next_cancel(self) -> bool:
        pending = self.database.run(
            lambda session: session.scalar(
                select(Order.id)
                .where(
                    Order.cancel_requested_at.is_not(None),
                    Order.status.in_([OrderStatus.NEW, *RESTING_STATUSES]),
                )
                .limit(1)
            )
        )
        if pending is None:
            return False
        live_cancel: int | None = None
        with self.database.session() as session:
            order = self._lock_next(
                session,
                select(Order)
                .where(
                    Order.cancel_requested_at.is_not(None),
                    Order.status.in_([OrderStatus.NEW, *RESTING_STATUSES]),
                )
                .order_by(Order.id),
            )
            if order is None:
                return False
            if order.status is OrderStatus.NEW or order.mode is TradingMode.PAPER:
                set_status(session, order, OrderStatus.CANCELLED, actor=ACTOR, note="cancelled on request")
                append_audit(
                    session,
                    actor=ACTOR,
                    action=AuditAction.ORDER_CANCELLED,
                    subject=f"order:{order.client_order_id}",
                    details={"filled": order.filled_quantity},
                )
                self.stats.cancelled += 1
            else:
                set_status(session, order, OrderStatus.PENDING_CANCEL, actor=ACTOR, note="cancel sent to the venue")
                live_cancel = order.id
        if live_cancel is not None:
            self._cancel_live(live_cancel)
        return True

    # ----------------------------------------------------------------- live

    def _live(self, session: Session, config: TradingConfig) -> Broker:
        if self._live_broker is None:
            self._live_broker = self.live_broker_factory(session, config)
        return self._live_broker

    @order_step("executor.claim")
    def _claim_live(self, session: Session, order: Order, config: TradingConfig) -> int | None:
        serialise_writes(session, f"{ACCOUNT_LOCK}:{order.account}")
        try:
            instrument = self._prepare(session, order, config)
        except BrokerUnavailable as error:
            logger.warning("Live venue unavailable for the balance check: %s", error)
            self._backoff_until = time.monotonic() + 5
            return None
        except BrokerRejected as error:  # the venue refused (e.g. the key, on the balance call)
            reject_order(session, order, rule=error.rule, reason=error.reason, actor=ACTOR)
            return None
        except LiveTradingUnavailable as error:
            deny_order(session, order, rule="live_unavailable", reason=str(error), actor=ACTOR)
            return None
        if instrument is None:
            self.stats.rejected += 1
            return None
        set_status(session, order, OrderStatus.SUBMITTING, actor=ACTOR, note=f"claimed by {self.instance_id}")
        order.claimed_by = self.instance_id
        order.lease_until = utc_now() + timedelta(seconds=self.settings.lease_seconds)
        order.submitted_at = utc_now()
        append_audit(
            session,
            actor=ACTOR,
            action=AuditAction.ORDER_SUBMITTED,
            subject=f"order:{order.client_order_id}",
            details={"venue": order.venue, "quantity": order.quantity, "type": order.order_type.value},
        )
        return order.id

    @order_step("executor.broker_submit")
    def _submit_live(self, order_id: int) -> None:
        with self.database.session() as session:
            order = session.get(Order, order_id)
            if order is None:
                return
            broker = self._live(session, self._config(session))
            session.expunge(order)
        self.stats.submitted += 1
        try:
            state: VenueOrderState | None = broker.submit(order)
        except BrokerRejected as error:
            self._finish_live(order_id, rejection=error)
            return
        except BrokerUnavailable as error:
            logger.warning("Venue unavailable, order %s goes back to the queue: %s", order.client_order_id, error)
            self._finish_live(order_id, requeue=str(error))
            self._backoff_until = time.monotonic() + 5
            return
        except BrokerUncertain as error:
            logger.warning("Fate of order %s unknown (%s): asking the venue", order.client_order_id, error)
            try:
                state = broker.fetch(order)
            except Exception as fetch_error:
                logger.warning("Venue lookup of %s failed: %s (reconciled later)", order.client_order_id, fetch_error)
                return
            if state is None:
                return  # not (yet) known: reconciled once the lease ends
        self._finish_live(order_id, state=state)

    def _finish_live(
        self,
        order_id: int,
        *,
        state: VenueOrderState | None = None,
        rejection: BrokerRejected | None = None,
        requeue: str | None = None,
    ) -> None:
        with self.database.session() as session:
            order = session.get(Order, order_id)
            if order is None:
                return
            instrument = session.get(Instrument, order.instrument_id)
            if rejection is not None:
                refuse = reject_order if rejection.by_venue else deny_order
                refuse(session, order, rule=rejection.rule, reason=rejection.reason, actor=ACTOR)
                self.stats.rejected += 1
            elif requeue is not None:
                set_status(session, order, OrderStatus.NEW, actor=ACTOR, note=f"not placed: {requeue}")
                order.claimed_by = None
                order.lease_until = None
            elif state is not None and instrument is not None:
                if order.status is OrderStatus.SUBMITTING and state.status in (
                    OrderStatus.FILLED,
                    OrderStatus.PARTIALLY_FILLED,
                    OrderStatus.OPEN,
                ):
                    set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="accepted by the venue")
                self._record_state(session, order, instrument, state)
            order.lease_until = None

    def _cancel_live(self, order_id: int) -> None:
        with self.database.session() as session:
            order = session.get(Order, order_id)
            if order is None:
                return
            broker = self._live(session, self._config(session))
            session.expunge(order)
        try:
            state = broker.cancel(order)
        except BrokerRejected as error:
            # E.g. the order was filled meanwhile: ask the venue what happened.
            logger.info("Cancel of %s refused (%s): fetching its state", order.client_order_id, error)
            state_or_none = broker.fetch(order)
            if state_or_none is None:
                return
            state = state_or_none
        except (BrokerUnavailable, BrokerUncertain) as error:
            logger.warning("Cancel of %s not confirmed: %s (checked again later)", order.client_order_id, error)
            return
        with self.database.session() as session:
            order_row = session.get(Order, order_id)
            instrument = session.get(Instrument, order_row.instrument_id) if order_row else None
            if order_row is not None and instrument is not None:
                self._record_state(session, order_row, instrument, state)

    # ----------------------------------------------------------------- the live account stream

    def _ensure_stream(self) -> None:
        """Start the live account stream when live trading is on (checked at most every safety poll)."""
        if self._stream is not None or not self.settings.live_stream:
            return
        now = time.monotonic()
        if now - self._stream_checked_at < self.settings.executor_safety_poll_seconds:
            return
        self._stream_checked_at = now

        def build(session: Session) -> LiveOrderStream | None:
            config = self._config(session)
            if not config.live_enabled:
                return None
            if self._nudge is None:
                self._nudge = Nudge()
            return self.live_stream_factory(session, config, self._nudge)

        try:
            stream = self.database.run(build)
        except Exception as error:  # no stream: REST polling goes on as before
            logger.warning("Live account stream not started: %s", error)
            return
        if stream is not None:
            self._stream = stream
            stream.start()
            logger.info("Live account stream started (%s)", stream.venue)

    def stream_status(self) -> dict[str, Any] | None:
        """The live account stream's state (None when no stream runs)."""
        return None if self._stream is None else self._stream.status.as_dict()

    def _drain_stream(self) -> bool:
        """Record what the live account stream delivered; after a (re)connect, reconcile over REST.

        Return whether any work was done.
        """
        stream = self._stream
        if stream is None:
            return False
        if self._nudge is not None:
            self._nudge.consume()
        worked = False
        unmatched = False
        for event in stream.events():
            try:
                applied = self._apply_stream_event(event)
            except Exception as error:  # one bad event never stops the others; REST reconciliation covers it
                logger.warning("Stream event %s not recorded: %s", type(event).__name__, error)
                applied = None
            if applied is None:
                unmatched = True
            worked = worked or bool(applied)
        if stream.take_reconciliation() or unmatched:
            worked = self._reconcile_live_working() or worked
        return worked

    def _stream_order_id(self, session: Session, venue_order_id: str | None, client_order_id: str | None) -> int | None:
        if client_order_id:
            found = session.scalar(
                select(Order.id).where(Order.client_order_id == client_order_id, Order.mode == TradingMode.LIVE)
            )
            if found is not None:
                return int(found)
        if venue_order_id:
            found = session.scalar(
                select(Order.id).where(Order.venue_order_id == venue_order_id, Order.mode == TradingMode.LIVE)
            )
            if found is not None:
                return int(found)
        return None

    def _apply_stream_event(self, event: StreamEvent) -> bool | None:
        """Record one stream event; True if something changed, False if nothing was new, None if not matched."""
        client_id = event.client_order_id if isinstance(event, StreamOrderUpdate) else None
        order_id = self.database.run(lambda session: self._stream_order_id(session, event.venue_order_id, client_id))
        if order_id is None:
            return None  # an order whose venue id Konsens does not know (yet): asked about over REST
        if isinstance(event, StreamOrderUpdate) and event.status not in ("canceled", "rejected", "expired"):
            if event.status in ("closed", "triggered"):
                self._poll_order(order_id)  # the order is done or triggered: its fills and state from REST
                return True
            return False  # open / booked: nothing to record
        with self.database.session() as session:
            order = self._lock_next(session, select(Order).where(Order.id == order_id))
            if order is None:
                return False
            serialise_writes(session, f"{ACCOUNT_LOCK}:{order.account}")
            instrument = session.get(Instrument, order.instrument_id)
            if instrument is None:
                return False
            if isinstance(event, StreamFill):
                self.stats.stream_fills += 1
                if order.status is OrderStatus.SUBMITTING:
                    set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="seen on the venue's stream")
                before = self.stats.filled
                self._record_state(
                    session,
                    order,
                    instrument,
                    VenueOrderState(OrderStatus.PARTIALLY_FILLED, event.venue_order_id, fills=[event.fill]),
                )
                return self.stats.filled > before
            self.stats.stream_updates += 1
            if order.status in TERMINAL_STATUSES or order.status is OrderStatus.NEW:
                return False
            target = {
                "canceled": OrderStatus.CANCELLED,
                "rejected": OrderStatus.REJECTED,
                "expired": OrderStatus.EXPIRED,
            }[str(event.status)]
            if order.status is OrderStatus.SUBMITTING and target is not OrderStatus.REJECTED:
                set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="seen on the venue's stream")
            self._record_state(
                session, order, instrument, VenueOrderState(target, event.venue_order_id, reason="venue stream")
            )
            return True

    def _reconcile_live_working(self) -> bool:
        """Ask the venue over REST about every working live order (after a stream (re)connect)."""
        before = (self.stats.filled, self.stats.cancelled, self.stats.reconciled)
        for order_id in self._ids(
            select(Order.id).where(Order.mode == TradingMode.LIVE, Order.status.in_(list(RESTING_STATUSES)))
        ):
            self._poll_order(order_id)
        self._last_live_poll = time.monotonic()
        self._reconcile_stale_submissions()
        return (self.stats.filled, self.stats.cancelled, self.stats.reconciled) != before

    # ----------------------------------------------------------------- reconciliation

    def _orphaned(self, order: Order) -> bool:
        """Return True if no live executor is working on ``order`` (its claimer died or its lease ended)."""
        if order.claimed_by == self.instance_id:
            return order.lease_until is None or order.lease_until <= utc_now()
        if not order.claimed_by:
            return True
        if order.lease_until is None or order.lease_until <= utc_now():
            return True
        host, _, rest = order.claimed_by.partition(":")
        pid_text = rest.split(":", 1)[0]
        if host == socket.gethostname() and pid_text.isdigit() and int(pid_text) != os.getpid():
            return not _pid_alive(int(pid_text))
        return False

    def reconcile(self) -> int:
        """Resolve every order of unknown fate by asking its venue by client order id (start-up step)."""
        count = 0
        unresolved = 0
        ids = self._ids(select(Order.id).where(Order.status.in_([OrderStatus.SUBMITTING, OrderStatus.PENDING_CANCEL])))
        for order_id in ids:
            try:
                if self._reconcile_one(order_id):
                    count += 1
            except (BrokerUnavailable, BrokerUncertain) as error:
                unresolved += 1
                logger.warning("Order %s not reconciled yet: %s", order_id, error)
        # Live orders resting at the venue may have filled while the executor was down.
        for order_id in self._ids(
            select(Order.id).where(
                Order.mode == TradingMode.LIVE,
                Order.status.in_(list(RESTING_STATUSES)),
            )
        ):
            self._poll_order(order_id)
        self.stats.reconciled += count
        if unresolved:
            raise ReconciliationPending(f"{unresolved} order(s) of unknown fate could not be checked with the venue")
        self.reconciled = True
        if count:
            logger.info("Reconciled %d order(s) of unknown fate", count)
        return count

    def _reconcile_stale_submissions(self) -> None:
        ids = self._ids(select(Order.id).where(Order.status == OrderStatus.SUBMITTING))
        for order_id in ids:
            try:
                self._reconcile_one(order_id)
            except (BrokerUnavailable, BrokerUncertain) as error:
                logger.warning("Order %s not reconciled yet: %s", order_id, error)

    def _reconcile_one(self, order_id: int) -> bool:
        with self.database.session() as session:
            order = self._lock_next(session, select(Order).where(Order.id == order_id))
            if order is None or order.status not in (OrderStatus.SUBMITTING, OrderStatus.PENDING_CANCEL):
                return False
            if order.status is OrderStatus.SUBMITTING and not self._orphaned(order):
                return False
            config = self._config(session)
            instrument = session.get(Instrument, order.instrument_id)
            if order.mode is TradingMode.PAPER:
                if order.status is OrderStatus.SUBMITTING:
                    set_status(session, order, OrderStatus.NEW, actor=ACTOR, note="reconciled: never processed")
                return True
            state = self._live(session, config).fetch(order)
            before = order.status
            if state is None:
                if order.status is OrderStatus.SUBMITTING:
                    set_status(
                        session, order, OrderStatus.NEW, actor=ACTOR, note="reconciled: the venue never received it"
                    )
                    order.claimed_by = None
                    order.lease_until = None
            elif instrument is not None:
                if order.status is OrderStatus.SUBMITTING and state.status is not OrderStatus.REJECTED:
                    set_status(session, order, OrderStatus.OPEN, actor=ACTOR, note="reconciled: found at the venue")
                self._record_state(session, order, instrument, state)
                order.lease_until = None
            append_audit(
                session,
                actor=ACTOR,
                action=AuditAction.ORDER_RECONCILED,
                subject=f"order:{order.client_order_id}",
                details={
                    "before": before.value,
                    "after": order.status.value,
                    "found_at_venue": state is not None,
                },
            )
            return True


def instrument_atr(session: Session, instrument_id: int, timeframe: str = "1h") -> Decimal | None:
    """Return the latest ATR(14) of an instrument's candles (for ATR-multiple exits), or None."""
    # pandas and pandas-ta only here: an executor whose exits need no ATR never loads them.
    from core.analysis.indicators import IndicatorKind, IndicatorSpec, compute_indicator

    frame = load_candles(session, instrument_id, timeframe, limit=ATR_LENGTH * 5)
    if len(frame) <= ATR_LENGTH:
        return None
    series = compute_indicator(frame, IndicatorSpec(IndicatorKind.ATR, ATR_LENGTH))[f"atr_{ATR_LENGTH}"].dropna()
    if series.empty:
        return None
    return Decimal(str(round(float(series.iloc[-1]), 10)))
