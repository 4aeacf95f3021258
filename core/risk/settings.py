"""Typed risk settings: the circuit-breaker limits and the alert rules.

Defaults come from the code, ``KONSENS_*`` environment variables or the ``[risk]`` table of the
config file; the Settings page stores changes in the database (``risk.limits`` and
``risk.alerts``), which override them. Every change is validated as a whole and written to the
audit log with the old and new values.

Saved limits that no longer validate are never replaced by the defaults: :func:`load_limits`
raises :class:`InvalidRiskLimits`, the guard halts trading with the reason
(``core.risk.guard.limits_or_halt``) and the Settings page offers the stored values that still
validate (:func:`editable_limits`) so the user can fix the rest.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationError, field_validator

from core.config import KonsensSettingsBase
from core.errors import PermanentError
from core.system.settings_store import get_setting, set_setting

if TYPE_CHECKING:  # the audit trail (the ORM) is imported where a change is recorded
    from sqlalchemy.orm import Session

    from core.audit import AuditAction

logger = logging.getLogger(__name__)

LIMITS_SETTING_KEY = "risk.limits"
ALERTS_SETTING_KEY = "risk.alerts"
SIZING_SETTING_KEY = "risk.sizing"


class RiskSettingsError(PermanentError, ValueError):
    """A settings change that does not validate; nothing was stored."""


class InvalidRiskLimits(PermanentError):
    """The saved risk limits do not validate: trading halts until they are fixed."""

    def __init__(self, problems: str):
        super().__init__(f"the saved risk limits ({LIMITS_SETTING_KEY}) do not validate: {problems}")
        self.problems = problems


class RiskLimits(KonsensSettingsBase):
    """The circuit-breaker limits the executor enforces on every order."""

    toml_table: ClassVar[str | None] = "risk"

    daily_loss_limit_pct: Decimal = Field(
        default=Decimal("0.05"), gt=0, le=1, description="Loss since the start of the (Vienna) day, fraction of equity."
    )
    max_drawdown_pct: Decimal = Field(
        default=Decimal("0.30"), gt=0, le=1, description="Drawdown from the equity peak that halts trading."
    )
    max_order_notional_eur: Decimal = Field(default=Decimal("15000"), gt=0, description="Largest single order (EUR).")
    max_instrument_exposure_pct: Decimal = Field(
        default=Decimal("0.50"), gt=0, le=10, description="Largest position in one instrument, fraction of equity."
    )
    max_total_exposure_pct: Decimal = Field(
        default=Decimal("1.00"), gt=0, le=10, description="All positions together, fraction of equity."
    )
    max_orders_per_window: int = Field(default=10, ge=1, description="Orders allowed per rate window.")
    order_rate_window_seconds: int = Field(default=60, ge=1, le=86400)
    stoploss_guard_count: int = Field(default=3, ge=1, description="Stop-outs within the lookback that lock entries.")
    stoploss_guard_lookback_minutes: int = Field(default=24 * 60, ge=1)
    stoploss_guard_lock_minutes: int = Field(default=6 * 60, ge=1)
    cooldown_minutes: int = Field(
        default=30, ge=0, description="No new entry in an instrument this long after an exit."
    )

    @field_validator(
        "daily_loss_limit_pct",
        "max_drawdown_pct",
        "max_order_notional_eur",
        "max_instrument_exposure_pct",
        "max_total_exposure_pct",
        mode="before",
    )
    @classmethod
    def _exact_decimal(cls, value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(str(value))
        return value


class AlertSettings(KonsensSettingsBase):
    """What the risk worker alerts on and where alerts are delivered."""

    toml_table: ClassVar[str | None] = "risk"

    large_move_pct: float = Field(default=0.05, gt=0, le=1, description="Price move within the window worth an alert.")
    large_move_window_hours: int = Field(default=24, ge=1, le=24 * 30)
    stale_data_minutes: int = Field(default=180, ge=1, description="Newest candle older than this is stale.")
    worker_silent_minutes: int = Field(default=15, ge=1, description="A heartbeat older than this is a failing worker.")
    webhook_url: str | None = Field(default=None, description="POST every alert as JSON here (optional).")
    telegram_chat_id: str | None = Field(default=None, description="Telegram chat for alerts (token stored as secret).")
    telegram_api_base: str = Field(default="https://api.telegram.org", description="Telegram Bot API base URL.")
    delivery_min_severity: str = Field(default="warning", pattern="^(info|warning|critical)$")
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("webhook_url", "telegram_chat_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("webhook_url", "telegram_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value


class SizingSettings(KonsensSettingsBase):
    """Parameters of the position-sizing methods offered in the order ticket."""

    toml_table: ClassVar[str | None] = "risk"

    fixed_fraction: Decimal = Field(default=Decimal("0.10"), gt=0, le=1, description="Fraction of equity per trade.")
    risk_per_trade: Decimal = Field(
        default=Decimal("0.01"), gt=0, le=Decimal("0.2"), description="Equity lost at the stop."
    )
    atr_multiple: Decimal = Field(default=Decimal("2"), gt=0, le=20, description="Stop distance in ATRs.")
    atr_period: int = Field(default=14, ge=2, le=200, description="Daily bars in the ATR.")
    kelly_multiplier: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, description="Fraction of full Kelly.")
    kelly_cap: Decimal = Field(default=Decimal("0.25"), gt=0, le=1, description="Kelly never spends more than this.")
    kelly_min_trades: int = Field(default=10, ge=1, le=1000)

    @field_validator("fixed_fraction", "risk_per_trade", "atr_multiple", "kelly_multiplier", "kelly_cap", mode="before")
    @classmethod
    def _exact_decimal(cls, value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(str(value))
        return value


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, item['loc'])) or 'value'}: {item['msg']}" for item in error.errors())


def _stored(session: Session, key: str) -> dict[str, Any]:
    stored = get_setting(session, key)
    return stored if isinstance(stored, dict) else {"__root__": stored} if stored is not None else {}


def _load[S: KonsensSettingsBase](session: Session, model: type[S], key: str) -> S:
    stored = _stored(session, key)
    try:
        return model(**stored)
    except ValidationError as error:  # a stored value that no longer validates: fall back, say so
        logger.warning("Stored %s do not validate (%s); using the defaults", key, error.error_count())
        return model()


def load_limits(session: Session) -> RiskLimits:
    """Return the limits in force: defaults overridden by the values saved in Settings.

    Raise :class:`InvalidRiskLimits` if the saved values do not validate (never the defaults instead).
    """
    stored = _stored(session, LIMITS_SETTING_KEY)
    try:
        return RiskLimits(**stored)
    except (ValidationError, TypeError) as error:
        problems = _problems(error) if isinstance(error, ValidationError) else str(error)
        raise InvalidRiskLimits(problems) from error


def limits_problem(session: Session) -> str | None:
    """Return why the saved limits do not validate, or None when they do."""
    try:
        load_limits(session)
    except InvalidRiskLimits as error:
        return str(error)
    return None


def editable_limits(session: Session) -> RiskLimits:
    """Return the limits for the Settings form: every saved value that validates on its own, else the default."""
    valid: dict[str, Any] = {}
    for name, value in _stored(session, LIMITS_SETTING_KEY).items():
        if name not in RiskLimits.model_fields:
            continue
        try:
            RiskLimits(**{name: value})
        except ValidationError:
            continue
        valid[name] = value
    try:
        return RiskLimits(**valid)
    except ValidationError:  # valid one by one, not together (cannot happen with independent fields)
        return RiskLimits()


def load_sizing_settings(session: Session) -> SizingSettings:
    """Return the position-sizing parameters in force."""
    return _load(session, SizingSettings, SIZING_SETTING_KEY)


def load_alert_settings(session: Session) -> AlertSettings:
    """Return the alert settings in force."""
    return _load(session, AlertSettings, ALERTS_SETTING_KEY)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {name: (str(value) if isinstance(value, Decimal) else value) for name, value in values.items()}


def _save[S: KonsensSettingsBase](
    session: Session, model: type[S], key: str, changes: dict[str, Any], actor: str, action: AuditAction
) -> S:
    current = editable_limits(session) if model is RiskLimits else _load(session, model, key)
    merged = {**current.model_dump(), **changes}
    try:
        updated = model(**merged)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise RiskSettingsError(problems) from error
    old_values = current.model_dump()
    new_values = updated.model_dump()
    changed = [name for name in new_values if old_values[name] != new_values[name]]  # 0.30 == 0.3: no change
    before = _jsonable(old_values)
    after = _jsonable(new_values)
    difference = {name: {"old": before[name], "new": after[name]} for name in changed}
    repairing = model is RiskLimits and limits_problem(session) is not None
    if not difference and not repairing:
        return updated
    stored = dict(_stored(session, key))
    if repairing:  # the saved values that did not validate are replaced by what was validated now
        for name, value in list(stored.items()):
            if name not in after or value != after[name]:
                difference.setdefault(name, {"old": value, "new": after.get(name)})
        stored = {name: after[name] for name in stored if name in after}
    stored.update({name: after[name] for name in difference if name in after})
    set_setting(session, key, stored)
    from core.audit import append_audit

    append_audit(session, actor=actor, action=action, subject=f"setting:{key}", details={"changes": difference})
    logger.info("%s changed %s: %s", actor, key, ", ".join(sorted(difference)))
    return updated


def save_limits(session: Session, changes: dict[str, Any], *, actor: str) -> RiskLimits:
    """Validate and store changed limits; audit the old and new values. Raise ``RiskSettingsError``."""
    from core.audit import AuditAction

    return _save(session, RiskLimits, LIMITS_SETTING_KEY, changes, actor, AuditAction.LIMIT_CHANGED)


def save_alert_settings(session: Session, changes: dict[str, Any], *, actor: str) -> AlertSettings:
    """Validate and store changed alert settings; audit them. Raise ``RiskSettingsError``."""
    from core.audit import AuditAction

    return _save(session, AlertSettings, ALERTS_SETTING_KEY, changes, actor, AuditAction.SETTING_CHANGED)


def save_sizing_settings(session: Session, changes: dict[str, Any], *, actor: str) -> SizingSettings:
    """Validate and store changed sizing parameters; audit them. Raise ``RiskSettingsError``."""
    from core.audit import AuditAction

    return _save(session, SizingSettings, SIZING_SETTING_KEY, changes, actor, AuditAction.SETTING_CHANGED)
