"""Trading states: ACTIVE / REDUCING / HALTED per account, plus the global kill switch.

The state in force for an account is the more severe of its own state and the global one
(scope ``*``). Breaches only ever *raise* the severity; leaving HALTED needs a manual reset;
a REDUCING state set by the daily loss limit lifts by itself at the next Vienna day. Every change
is written to the audit log and raised as an alert, with the rule and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.audit.trail import AUDIT_LOCK_NAME
from core.db.write_lock import serialise_writes
from core.risk.alerts import raise_alert
from core.risk.models import GLOBAL_SCOPE, AlertKind, AlertSeverity, RiskTradingState, TradingState
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

KILL_SWITCH_RULE = "kill_switch"
MANUAL_RESET_RULE = "manual_reset"


@dataclass(frozen=True)
class StateView:
    """The trading state in force for an account, and why."""

    state: TradingState
    scope: str  # where it comes from: the account, or "*" (global)
    rule: str | None
    reason: str | None
    changed_at: datetime | None
    changed_by: str | None
    until: datetime | None


def _row(session: Session, scope: str) -> RiskTradingState | None:
    return session.get(RiskTradingState, scope)


def _view(row: RiskTradingState | None, scope: str) -> StateView:
    if row is None:
        return StateView(TradingState.ACTIVE, scope, None, None, None, None, None)
    return StateView(row.state, row.scope, row.rule, row.reason, row.changed_at, row.changed_by, row.until)


def scope_state(session: Session, scope: str) -> StateView:
    """Return the state stored for one scope (an account or ``*``); ACTIVE if none is stored."""
    return _view(_row(session, scope), scope)


def _locked_state(session: Session, scope: str) -> StateView:
    """Take the state writers' lock and return the state of ``scope`` as committed now.

    Every state change appends an audit row, so the writers share the audit log's lock: one lock,
    always taken before the state row is written, so two writers (the risk worker, an executor's
    check or post-trade hook) can neither insert the same scope twice nor deadlock on the row lock
    against the audit lock. The row is re-read, since an earlier read may predate the lock.
    """
    serialise_writes(session, AUDIT_LOCK_NAME)
    return _view(session.get(RiskTradingState, scope, populate_existing=True), scope)


def effective_state(session: Session, account: str) -> StateView:
    """Return the state in force for ``account``: the more severe of its own and the global one."""
    own = scope_state(session, account)
    overall = scope_state(session, GLOBAL_SCOPE)
    return overall if overall.state.severity > own.state.severity else own


def all_states(session: Session) -> list[StateView]:
    """Return every stored state, the global one first."""
    rows = list(session.scalars(select(RiskTradingState).order_by(RiskTradingState.scope)))
    views = [_view(row, row.scope) for row in rows]
    if not any(view.scope == GLOBAL_SCOPE for view in views):
        views.insert(0, _view(None, GLOBAL_SCOPE))
    return sorted(views, key=lambda view: (view.scope != GLOBAL_SCOPE, view.scope))


def _set(
    session: Session,
    scope: str,
    state: TradingState,
    *,
    rule: str | None,
    reason: str,
    actor: str,
    until: datetime | None = None,
    now: datetime | None = None,
    baseline_equity: Decimal | None = None,
) -> bool:
    now = now or utc_now()
    row = _row(session, scope)
    previous = TradingState.ACTIVE if row is None else row.state
    if row is None:
        row = RiskTradingState(scope=scope, state=state, changed_by=actor, changed_at=now)
        session.add(row)
    elif row.state is state and row.rule == rule and row.until == until and baseline_equity is None:
        return False
    row.state = state
    row.rule = rule
    row.reason = reason
    row.until = until
    row.changed_at = now
    row.changed_by = actor
    if baseline_equity is not None:
        row.baseline_at = now
        row.baseline_equity_eur = baseline_equity
    session.flush()
    details = {
        "scope": scope,
        "from": previous.value,
        "to": state.value,
        "rule": rule,
        "reason": reason,
        "until": until.isoformat() if until else None,
    }
    append_audit(
        session, actor=actor, action=AuditAction.CIRCUIT_BREAKER, subject=f"trading_state:{scope}", details=details
    )
    where = "all accounts" if scope == GLOBAL_SCOPE else f"account {scope}"
    escalated = state.severity > previous.severity
    raise_alert(
        session,
        kind=AlertKind.BREACH if escalated and rule not in {KILL_SWITCH_RULE} else AlertKind.STATE_CHANGE,
        severity=AlertSeverity.CRITICAL if state is TradingState.HALTED else AlertSeverity.WARNING,
        subject=f"trading_state:{scope}",
        message=f"Trading {state.value.upper()} for {where} ({rule or 'no rule'}): {reason}",
        dedupe_key=f"state:{scope}:{state.value}:{rule}:{now.isoformat()}",
        details=details,
        now=now,
    )
    logger.warning("Trading state of %s: %s -> %s (%s: %s) by %s", scope, previous, state, rule, reason, actor)
    return True


def escalate(
    session: Session,
    account: str,
    state: TradingState,
    *,
    rule: str,
    reason: str,
    until: datetime | None = None,
    now: datetime | None = None,
    actor: str = "risk",
) -> bool:
    """Move ``account`` to ``state`` if that is more severe than its current state; return whether it moved."""
    if state.severity <= scope_state(session, account).state.severity:
        return False  # the common case, decided without taking a write lock
    current = _locked_state(session, account)
    if state.severity <= current.state.severity:
        return False
    return _set(session, account, state, rule=rule, reason=reason, actor=actor, until=until, now=now)


def lift_expired(session: Session, account: str, *, now: datetime | None = None) -> bool:
    """Return a REDUCING account to ACTIVE once its ``until`` has passed; return whether it moved."""
    now = now or utc_now()

    def expired(view: StateView) -> bool:
        return view.state is TradingState.REDUCING and view.until is not None and now >= view.until

    if not expired(scope_state(session, account)):
        return False
    current = _locked_state(session, account)
    if expired(current):
        return _set(
            session,
            account,
            TradingState.ACTIVE,
            rule=current.rule,
            reason=f"{current.rule} restriction expired",
            actor="risk",
            now=now,
        )
    return False


def engage_kill_switch(session: Session, *, actor: str, reason: str, now: datetime | None = None) -> bool:
    """HALT every account at once (the manual kill switch); audited. Return whether it changed."""
    reason = reason.strip() or "manual kill switch"
    _locked_state(session, GLOBAL_SCOPE)
    return _set(session, GLOBAL_SCOPE, TradingState.HALTED, rule=KILL_SWITCH_RULE, reason=reason, actor=actor, now=now)


def reset_trading(
    session: Session,
    scope: str,
    *,
    actor: str,
    note: str = "",
    equity_eur: Decimal | None = None,
    now: datetime | None = None,
) -> bool:
    """Manually return a scope (an account, or ``*`` for the kill switch) to ACTIVE; audited.

    For an account, ``equity_eur`` (its equity now) becomes the new baseline: the daily loss and
    the drawdown are measured from it, so the breach that was just acknowledged does not trip
    again at once.
    """
    current = _locked_state(session, scope)
    if current.state is TradingState.ACTIVE and equity_eur is None:
        return False
    reason = note.strip() or f"manual reset from {current.state.value}"
    return _set(
        session,
        scope,
        TradingState.ACTIVE,
        rule=MANUAL_RESET_RULE,
        reason=reason,
        actor=actor,
        now=now,
        baseline_equity=equity_eur,
    )


def baseline(session: Session, account: str) -> tuple[datetime | None, Decimal | None]:
    """Return the time and equity of the last manual reset of ``account`` (None, None if never)."""
    row = _row(session, account)
    if row is None:
        return None, None
    return row.baseline_at, row.baseline_equity_eur
