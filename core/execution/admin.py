"""Trading administration, every change audited: live mode, API keys, fees and slippage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.audit import AuditAction, append_audit
from core.errors import PermanentError
from core.execution.settings import KEY_LIVE_ENABLED, SECRET_ONETRADING_KEY
from core.security.demo_guard import RealAct, refuse_while_demo
from core.security.secrets import SecretStore
from core.system.settings_store import get_setting, set_setting

EDITABLE_KEYS = (
    "trading.paper_slippage",
    "trading.paper_price_max_age_seconds",
    "trading.paper_fee_venue",
    "trading.fee.onetrading.maker",
    "trading.fee.onetrading.taker",
    "trading.fee.bitpanda",
)


class LiveModeError(PermanentError, ValueError):
    """Live mode cannot be switched on (no API key)."""


def set_live_mode(session: Session, enabled: bool, *, actor: str, store: SecretStore | None = None) -> None:
    """Switch live trading on or off; on needs a stored One Trading API key. Audited."""
    store = store or SecretStore()
    if enabled:
        refuse_while_demo(session, RealAct.ENABLE_LIVE_TRADING)
    if enabled and not store.get(session, SECRET_ONETRADING_KEY):
        raise LiveModeError("store a One Trading API key before enabling live trading")
    before = bool(get_setting(session, KEY_LIVE_ENABLED, False))
    set_setting(session, KEY_LIVE_ENABLED, bool(enabled))
    if before != bool(enabled):
        append_audit(
            session,
            actor=actor,
            action=AuditAction.LIVE_MODE_CHANGED,
            subject="trading:live_mode",
            details={"before": before, "after": bool(enabled)},
        )


def store_api_key(
    session: Session, name: str, value: str | None, *, actor: str, store: SecretStore | None = None
) -> None:
    """Store (or delete, with an empty value) an API key encrypted; audited (by the store) without the key itself."""
    store = store or SecretStore()
    value = (value or "").strip()
    if value:
        store.set(session, name, value, actor=actor)
    else:
        store.delete(session, name, actor=actor)
        if name == SECRET_ONETRADING_KEY and get_setting(session, KEY_LIVE_ENABLED, False):
            set_live_mode(session, False, actor=actor, store=store)


def set_trading_value(session: Session, key: str, value: Any, *, actor: str) -> None:
    """Store one editable trading setting (fees, slippage...), audited with before and after."""
    if key not in EDITABLE_KEYS:
        raise KeyError(f"{key} is not an editable trading setting")
    if key != "trading.paper_fee_venue":
        number = Decimal(str(value))
        if not number.is_finite() or number < 0:
            raise ValueError(f"{key} must be a non-negative number")
        value = str(number)
    before = get_setting(session, key)
    if before == value:
        return
    set_setting(session, key, value)
    append_audit(
        session,
        actor=actor,
        action=AuditAction.SETTING_CHANGED,
        subject=f"setting:{key}",
        details={"before": before, "after": value},
    )
