"""Circuit breakers, enforced by the executor through ``core.execution.pretrade``.

``pretrade_checks()`` returns the one check ``RiskGuard`` ("risk"); it evaluates, in order:

1. account breaches (they move the trading state): the daily loss limit (→ REDUCING until the
   next Vienna day) and the maximum drawdown from the equity peak (→ HALTED);
2. the trading state: HALTED blocks every order, REDUCING every order that does not reduce
   exposure (the kill switch HALTs all accounts);
3. the order-rate limit (every order);
4. for orders that add exposure only: maximum notional per order, a known equity, maximum
   exposure per instrument and in total, the stop-loss guard (N stop-outs within a lookback
   lock new entries for a while) and the cooldown per instrument after an exit.

Saved limits that do not validate halt trading for every account (global scope, rule
``invalid_limits``, the reason names the fields; audited, one alert) and refuse the order; the
state stays HALTED until the user fixes the limits and resets it on the Risk page.

A refusal names its rule (``RiskRule``) and reason; every verdict is stored in
``risk_order_checks`` and a refusal raises an alert. ``post_trade_hooks()`` returns the hook that
records each closed exposure (``risk_exit_events``), trips the stop-loss guard and re-checks the
account's breaches after a realised loss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.db.upsert import bulk_upsert
from core.execution.pretrade import ExposureClosed, OrderIntent, PostTradeHook, PreTradeCheck, PreTradeVerdict
from core.risk.alerts import raise_alert, recent_alert_exists
from core.risk.exposure import (
    AccountExposure,
    account_exposure,
    equity_before,
    next_day_start,
    peak_equity,
    start_of_day,
)
from core.risk.models import GLOBAL_SCOPE, AlertKind, AlertSeverity, RiskExitEvent, RiskOrderCheck, TradingState
from core.risk.rules import STOP_OUT_REASONS, RiskRule, account_breach, stoploss_lock_from
from core.risk.settings import InvalidRiskLimits, RiskLimits, load_limits
from core.risk.state import baseline, effective_state, escalate, lift_expired
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountRisk:
    """Loss and drawdown of an account now, measured as the breakers measure them."""

    equity_eur: Decimal
    day_start_equity_eur: Decimal | None
    daily_loss_pct: Decimal  # 0.02 = 2 % below the start of the day (0 when up)
    peak_equity_eur: Decimal | None
    drawdown_pct: Decimal  # 0.1 = 10 % below the peak


def limits_or_halt(session: Session, *, now: datetime | None = None) -> RiskLimits | None:
    """Return the limits in force; if the saved ones do not validate, HALT all trading and return None.

    The halt is global (every account), audited and alerted once (a repeated halt for the same
    rule changes nothing); its reason names the fields that do not validate.
    """
    try:
        return load_limits(session)
    except InvalidRiskLimits as error:
        reason = f"{error}; fix them under Settings → Risk, then reset trading"
        if escalate(session, GLOBAL_SCOPE, TradingState.HALTED, rule=RiskRule.INVALID_LIMITS, reason=reason, now=now):
            logger.error("Trading halted: %s", error)
        return None


def _fraction(part: Decimal, whole: Decimal | None) -> Decimal:
    if whole is None or whole <= 0 or part <= 0:
        return Decimal(0)
    return (part / whole).quantize(Decimal("0.000001"))


def account_risk(session: Session, account: str, now: datetime, exposure: AccountExposure | None = None) -> AccountRisk:
    """Return equity, daily loss and drawdown of ``account`` (from the last manual reset, if later)."""
    exposure = exposure or account_exposure(session, account)
    equity = exposure.equity_eur
    baseline_at, baseline_equity = baseline(session, account)
    day_start = start_of_day(now)
    if baseline_at is not None and baseline_equity is not None and baseline_at >= day_start:
        opening: Decimal | None = baseline_equity
    else:
        opening = equity_before(session, account, day_start)
    peak = peak_equity(session, account, since=baseline_at)
    if baseline_equity is not None:
        peak = baseline_equity if peak is None else max(peak, baseline_equity)
    peak = equity if peak is None else max(peak, equity)
    return AccountRisk(
        equity_eur=equity,
        day_start_equity_eur=opening,
        daily_loss_pct=_fraction((opening or equity) - equity, opening),
        peak_equity_eur=peak,
        drawdown_pct=_fraction(peak - equity, peak),
    )


def evaluate_account_breaches(
    session: Session,
    account: str,
    *,
    limits: RiskLimits | None = None,
    now: datetime | None = None,
    exposure: AccountExposure | None = None,
) -> AccountRisk:
    """Move the trading state of ``account`` if the daily loss or drawdown limit is breached.

    Also lifts an expired REDUCING state first. Returns the measured loss and drawdown.
    """
    now = now or utc_now()
    limits = limits or limits_or_halt(session, now=now)
    lift_expired(session, account, now=now)
    risk = account_risk(session, account, now, exposure)
    if limits is None:  # halted above: nothing to compare against
        return risk
    rule = account_breach(risk.daily_loss_pct, risk.drawdown_pct, limits.daily_loss_limit_pct, limits.max_drawdown_pct)
    if rule is RiskRule.MAX_DRAWDOWN:
        escalate(
            session,
            account,
            TradingState.HALTED,
            rule=RiskRule.MAX_DRAWDOWN,
            reason=(
                f"drawdown {risk.drawdown_pct:.2%} from the peak of € {risk.peak_equity_eur:,.2f} reached the limit "
                f"of {limits.max_drawdown_pct:.2%}"
            ),
            now=now,
        )
    elif rule is RiskRule.DAILY_LOSS:
        escalate(
            session,
            account,
            TradingState.REDUCING,
            rule=RiskRule.DAILY_LOSS,
            reason=(
                f"loss today {risk.daily_loss_pct:.2%} (from € {risk.day_start_equity_eur:,.2f}) reached the limit "
                f"of {limits.daily_loss_limit_pct:.2%}"
            ),
            until=next_day_start(now),
            now=now,
        )
    return risk


def orders_in_window(session: Session, account: str, since: datetime, *, exclude: str | None = None) -> int:
    """Return how many orders of ``account`` were allowed since ``since``."""
    query = select(func.count()).where(
        RiskOrderCheck.account == account, RiskOrderCheck.allowed.is_(True), RiskOrderCheck.ts >= since
    )
    if exclude is not None:
        query = query.where(RiskOrderCheck.client_order_id != exclude)
    return int(session.scalar(query) or 0)


def stop_outs_since(session: Session, account: str, since: datetime) -> list[RiskExitEvent]:
    """Return the stop-loss and trailing-stop exits of ``account`` since ``since``, oldest first."""
    return list(
        session.scalars(
            select(RiskExitEvent)
            .where(
                RiskExitEvent.account == account,
                RiskExitEvent.reason.in_(STOP_OUT_REASONS),
                RiskExitEvent.ts >= since,
            )
            .order_by(RiskExitEvent.ts)
        )
    )


def stoploss_lock_until(session: Session, account: str, limits: RiskLimits, now: datetime) -> datetime | None:
    """Return until when new entries are locked by the stop-loss guard, or None if they are not.

    The guard trips when ``stoploss_guard_count`` stop-outs fall within the lookback; the lock
    lasts ``stoploss_guard_lock_minutes`` from the stop-out that tripped it.
    """
    lookback = timedelta(minutes=limits.stoploss_guard_lookback_minutes)
    lock = timedelta(minutes=limits.stoploss_guard_lock_minutes)
    events = stop_outs_since(session, account, now - lookback - lock)
    return stoploss_lock_from([event.ts for event in events], limits.stoploss_guard_count, lookback, lock, now)


def cooldown_until(session: Session, account: str, instrument_id: int, limits: RiskLimits) -> datetime | None:
    """Return the end of the cooldown after the last exit in an instrument (None without exits)."""
    if limits.cooldown_minutes <= 0:
        return None
    last_exit = session.scalar(
        select(func.max(RiskExitEvent.ts)).where(
            RiskExitEvent.account == account, RiskExitEvent.instrument_id == instrument_id
        )
    )
    if last_exit is None:
        return None
    return ensure_utc(last_exit) + timedelta(minutes=limits.cooldown_minutes)


def evaluate_order(session: Session, intent: OrderIntent, *, limits: RiskLimits | None = None) -> PreTradeVerdict:
    """Return the verdict of every circuit breaker on ``intent`` (the first refusal, or allow)."""
    now = intent.ts
    limits = limits or limits_or_halt(session, now=now)
    if limits is None:
        return PreTradeVerdict.block(
            RiskRule.INVALID_LIMITS, f"{limits_problem_text(session)}; trading is HALTED until they are fixed"
        )
    exposure = account_exposure(session, intent.account)
    evaluate_account_breaches(session, intent.account, limits=limits, now=now, exposure=exposure)

    state = effective_state(session, intent.account)
    if state.state is TradingState.HALTED:
        rule = RiskRule.KILL_SWITCH if state.rule == RiskRule.KILL_SWITCH else RiskRule.HALTED
        return PreTradeVerdict.block(
            rule, f"trading is HALTED ({state.rule}: {state.reason}); only cancels are allowed"
        )
    if state.state is TradingState.REDUCING and not intent.reduces_exposure:
        return PreTradeVerdict.block(
            RiskRule.REDUCING, f"trading is REDUCING ({state.rule}: {state.reason}); only orders that reduce exposure"
        )

    window_start = now - timedelta(seconds=limits.order_rate_window_seconds)
    recent = orders_in_window(session, intent.account, window_start, exclude=intent.client_order_id)
    if recent >= limits.max_orders_per_window:
        return PreTradeVerdict.block(
            RiskRule.ORDER_RATE,
            f"{recent} orders in the last {limits.order_rate_window_seconds} s; the limit is "
            f"{limits.max_orders_per_window}",
        )

    if intent.reduces_exposure:
        return PreTradeVerdict.allow()

    if intent.notional_eur > limits.max_order_notional_eur:
        return PreTradeVerdict.block(
            RiskRule.MAX_ORDER_NOTIONAL,
            f"order notional € {intent.notional_eur:,.2f} exceeds the limit of € {limits.max_order_notional_eur:,.2f}",
        )
    equity = exposure.equity_eur
    if equity <= 0:
        return PreTradeVerdict.block(
            RiskRule.EQUITY_UNKNOWN,
            f"no positive equity is known for account {intent.account!r}; sync the account before adding exposure",
        )
    instrument_after = exposure.exposure_of(intent.instrument_id) + intent.notional_eur
    instrument_limit = equity * limits.max_instrument_exposure_pct
    if instrument_after > instrument_limit:
        return PreTradeVerdict.block(
            RiskRule.MAX_INSTRUMENT_EXPOSURE,
            f"{intent.symbol} exposure would be € {instrument_after:,.2f} "
            f"({instrument_after / equity:.1%} of equity); the limit is {limits.max_instrument_exposure_pct:.0%}",
        )
    total_after = exposure.gross_exposure_eur + intent.notional_eur
    total_limit = equity * limits.max_total_exposure_pct
    if total_after > total_limit:
        return PreTradeVerdict.block(
            RiskRule.MAX_TOTAL_EXPOSURE,
            f"total exposure would be € {total_after:,.2f} ({total_after / equity:.1%} of equity); "
            f"the limit is {limits.max_total_exposure_pct:.0%}",
        )
    locked_until = stoploss_lock_until(session, intent.account, limits, now)
    if locked_until is not None:
        return PreTradeVerdict.block(
            RiskRule.STOPLOSS_GUARD,
            f"{limits.stoploss_guard_count} stop-outs within {limits.stoploss_guard_lookback_minutes} min: "
            f"new entries are locked until {locked_until:%Y-%m-%d %H:%M} UTC",
        )
    cooling_until = cooldown_until(session, intent.account, intent.instrument_id, limits)
    if cooling_until is not None and cooling_until > now:
        return PreTradeVerdict.block(
            RiskRule.COOLDOWN,
            f"{intent.symbol} was exited recently: no new entry before {cooling_until:%Y-%m-%d %H:%M} UTC",
        )
    return PreTradeVerdict.allow()


def record_order_check(session: Session, intent: OrderIntent, verdict: PreTradeVerdict) -> None:
    """Store the verdict on ``intent`` (replacing an earlier one for the same client order id)."""
    bulk_upsert(
        session,
        RiskOrderCheck.__table__,  # type: ignore[arg-type]
        [
            {
                "client_order_id": intent.client_order_id,
                "ts": intent.ts,
                "account": intent.account,
                "instrument_id": intent.instrument_id,
                "symbol": intent.symbol,
                "side": intent.side.value,
                "notional_eur": intent.notional_eur,
                "reduces_exposure": intent.reduces_exposure,
                "allowed": verdict.allowed,
                "rule": verdict.rule,
                "reason": verdict.reason,
            }
        ],
        conflict_columns=["client_order_id"],
        update_columns=["ts", "notional_eur", "allowed", "rule", "reason"],
    )


class RiskGuard:
    """The pre-trade check the executor runs on every order (see the module docstring)."""

    name = "risk"

    def check(self, session: Session, intent: OrderIntent) -> PreTradeVerdict:
        verdict = evaluate_order(session, intent)
        record_order_check(session, intent, verdict)
        if not verdict.allowed:
            raise_alert(
                session,
                kind=AlertKind.ORDER_BLOCKED,
                severity=AlertSeverity.WARNING,
                subject=f"order:{intent.client_order_id}",
                message=(
                    f"{intent.side.value.upper()} {intent.quantity} {intent.symbol} (€ {intent.notional_eur:,.2f}) "
                    f"blocked by {verdict.rule}: {verdict.reason}"
                ),
                dedupe_key=f"order_blocked:{intent.client_order_id}:{verdict.rule}",
                details={"account": intent.account, "rule": verdict.rule, "live": intent.is_live},
                now=intent.ts,
            )
        return verdict


class RiskPostTradeHook:
    """Records closed exposure, trips the stop-loss guard, re-checks the account's breaches."""

    def on_exposure_closed(self, session: Session, event: ExposureClosed) -> None:
        session.add(
            RiskExitEvent(
                ts=event.ts,
                account=event.account,
                instrument_id=event.instrument_id,
                reason=event.reason,
                realised_pnl_eur=event.realised_pnl_eur,
            )
        )
        session.flush()
        limits = limits_or_halt(session, now=event.ts)
        if limits is None:
            return
        if event.reason in STOP_OUT_REASONS:
            locked_until = stoploss_lock_until(session, event.account, limits, event.ts)
            subject = f"stoploss_guard:{event.account}"
            lock = timedelta(minutes=limits.stoploss_guard_lock_minutes)
            if locked_until is not None and not recent_alert_exists(
                session, AlertKind.STOPLOSS_GUARD, subject, event.ts - lock
            ):
                reason = (
                    f"{limits.stoploss_guard_count} stop-outs within {limits.stoploss_guard_lookback_minutes} min: "
                    f"new entries locked until {locked_until:%Y-%m-%d %H:%M} UTC"
                )
                append_audit(
                    session,
                    actor="risk",
                    action=AuditAction.CIRCUIT_BREAKER,
                    subject=subject,
                    details={
                        "rule": RiskRule.STOPLOSS_GUARD.value,
                        "until": locked_until.isoformat(),
                        "reason": reason,
                    },
                )
                raise_alert(
                    session,
                    kind=AlertKind.STOPLOSS_GUARD,
                    severity=AlertSeverity.WARNING,
                    subject=subject,
                    message=f"Stop-loss guard tripped for account {event.account}: {reason}",
                    dedupe_key=f"{subject}:{locked_until.isoformat()}",
                    details={"until": locked_until.isoformat()},
                    now=event.ts,
                )
        evaluate_account_breaches(session, event.account, limits=limits, now=event.ts)


def limits_problem_text(session: Session) -> str:
    try:
        load_limits(session)
    except InvalidRiskLimits as error:
        return str(error)
    return "the saved risk limits do not validate"


def pretrade_checks() -> list[PreTradeCheck]:
    """Return the risk module's pre-trade checks (the executor builds them in; nothing loads them by name)."""
    return [RiskGuard()]


def post_trade_hooks() -> list[PostTradeHook]:
    """Return the risk module's post-trade hooks (built into the executor)."""
    return [RiskPostTradeHook()]
