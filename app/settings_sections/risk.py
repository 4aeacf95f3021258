"""Settings → Risk: circuit-breaker limits, position sizing, alert rules and delivery (all audited)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import streamlit as st

from app.ui.context import USERNAME_KEY
from core.db.engine import Database
from core.risk.notify import TELEGRAM_TOKEN_SECRET
from core.risk.settings import (
    RiskSettingsError,
    editable_limits,
    limits_problem,
    load_alert_settings,
    load_sizing_settings,
    save_alert_settings,
    save_limits,
    save_sizing_settings,
)
from core.security.secrets import SecretStore

TITLE = "Risk"
ORDER = 40


def _percent(label: str, value: Decimal, key: str, help_text: str, maximum: float = 100.0) -> float:
    return st.number_input(
        label,
        min_value=0.01,
        max_value=maximum,
        value=float(value * 100),
        step=0.5,
        format="%.2f",
        key=key,
        help=help_text,
    )


def _from_percent(value: float) -> str:
    return str(Decimal(str(value)) / 100)


def _save(database: Database, saver: Any, changes: dict[str, Any], what: str) -> None:
    actor = str(st.session_state.get(USERNAME_KEY) or "dashboard")
    try:
        database.run(lambda session: saver(session, changes, actor=actor))
    except RiskSettingsError as error:
        st.error(f"{what} not saved: {error}")
    else:
        st.success(f"{what} saved (recorded in the audit log).")


def render(database: Database) -> None:
    """Render the three forms; each save validates the whole set and audits the changes."""
    problem = database.run(limits_problem)
    limits = database.run(editable_limits)  # the saved values that validate; the defaults for the others
    sizing = database.run(load_sizing_settings)
    alerts = database.run(load_alert_settings)

    st.subheader("Circuit breakers")
    if problem:
        st.error(f"Trading is HALTED: {problem}. Check the values below and save them.", icon=":material/block:")
    st.caption(
        "Enforced by the executor on every order. A daily-loss breach allows only reducing orders until the next "
        "day; a drawdown breach halts trading until a manual reset on the Risk page."
    )
    with st.form("risk_limits"):
        left, middle, right = st.columns(3)
        with left:
            daily = _percent(
                "Daily loss limit (% of equity)", limits.daily_loss_limit_pct, "rl_daily", "Since 00:00 Vienna."
            )
            drawdown = _percent("Max drawdown from peak (%)", limits.max_drawdown_pct, "rl_dd", "Breach halts trading.")
            notional = st.number_input(
                "Max notional per order (EUR)",
                min_value=1.0,
                value=float(limits.max_order_notional_eur),
                step=500.0,
                key="rl_notional",
            )
        with middle:
            per_instrument = _percent(
                "Max exposure per instrument (% of equity)", limits.max_instrument_exposure_pct, "rl_inst", "", 1000.0
            )
            total = _percent("Max total exposure (% of equity)", limits.max_total_exposure_pct, "rl_total", "", 1000.0)
            orders = st.number_input(
                "Max orders per window", min_value=1, value=limits.max_orders_per_window, key="rl_orders"
            )
            window = st.number_input(
                "Rate window (seconds)",
                min_value=1,
                max_value=86400,
                value=limits.order_rate_window_seconds,
                key="rl_window",
            )
        with right:
            guard_count = st.number_input(
                "Stop-loss guard: stop-outs", min_value=1, value=limits.stoploss_guard_count, key="rl_guard_n"
            )
            guard_lookback = st.number_input(
                "… within (minutes)", min_value=1, value=limits.stoploss_guard_lookback_minutes, key="rl_guard_look"
            )
            guard_lock = st.number_input(
                "… lock entries for (minutes)",
                min_value=1,
                value=limits.stoploss_guard_lock_minutes,
                key="rl_guard_lock",
            )
            cooldown = st.number_input(
                "Cooldown after an exit (minutes)", min_value=0, value=limits.cooldown_minutes, key="rl_cooldown"
            )
        if st.form_submit_button("Save limits", type="primary"):
            _save(
                database,
                save_limits,
                {
                    "daily_loss_limit_pct": _from_percent(daily),
                    "max_drawdown_pct": _from_percent(drawdown),
                    "max_order_notional_eur": str(Decimal(str(notional))),
                    "max_instrument_exposure_pct": _from_percent(per_instrument),
                    "max_total_exposure_pct": _from_percent(total),
                    "max_orders_per_window": int(orders),
                    "order_rate_window_seconds": int(window),
                    "stoploss_guard_count": int(guard_count),
                    "stoploss_guard_lookback_minutes": int(guard_lookback),
                    "stoploss_guard_lock_minutes": int(guard_lock),
                    "cooldown_minutes": int(cooldown),
                },
                "Limits",
            )

    st.subheader("Position sizing")
    with st.form("risk_sizing"):
        left, middle, right = st.columns(3)
        with left:
            fraction = _percent("Fixed fraction (% of equity)", sizing.fixed_fraction, "rs_fraction", "")
            risk = _percent("Risk per trade (% of equity)", sizing.risk_per_trade, "rs_risk", "Lost at the stop.", 20.0)
        with middle:
            atr_multiple = st.number_input(
                "ATR multiple for the stop",
                min_value=0.1,
                max_value=20.0,
                value=float(sizing.atr_multiple),
                key="rs_atr",
            )
            atr_period = st.number_input(
                "ATR period (days)", min_value=2, max_value=200, value=sizing.atr_period, key="rs_atr_n"
            )
        with right:
            kelly = _percent("Kelly multiplier (% of full Kelly)", sizing.kelly_multiplier, "rs_kelly", "")
            kelly_cap = _percent("Kelly cap (% of equity)", sizing.kelly_cap, "rs_kelly_cap", "")
            kelly_trades = st.number_input(
                "Kelly needs closed trades",
                min_value=1,
                max_value=1000,
                value=sizing.kelly_min_trades,
                key="rs_kelly_n",
            )
        if st.form_submit_button("Save sizing", type="primary"):
            _save(
                database,
                save_sizing_settings,
                {
                    "fixed_fraction": _from_percent(fraction),
                    "risk_per_trade": _from_percent(risk),
                    "atr_multiple": str(Decimal(str(atr_multiple))),
                    "atr_period": int(atr_period),
                    "kelly_multiplier": _from_percent(kelly),
                    "kelly_cap": _from_percent(kelly_cap),
                    "kelly_min_trades": int(kelly_trades),
                },
                "Sizing",
            )

    st.subheader("Alerts")
    store = SecretStore()
    token_stored = database.run(lambda session: store.get(session, TELEGRAM_TOKEN_SECRET)) is not None
    with st.form("risk_alerts"):
        left, right = st.columns(2)
        with left:
            move = _percent("Large move (% within the window)", Decimal(str(alerts.large_move_pct)), "ra_move", "")
            move_window = st.number_input(
                "Large-move window (hours)",
                min_value=1,
                max_value=720,
                value=alerts.large_move_window_hours,
                key="ra_move_h",
            )
            stale = st.number_input(
                "Stale data after (minutes)", min_value=1, value=alerts.stale_data_minutes, key="ra_stale"
            )
            silent = st.number_input(
                "Worker silent after (minutes)", min_value=1, value=alerts.worker_silent_minutes, key="ra_silent"
            )
        with right:
            webhook = st.text_input("Webhook URL (optional)", value=alerts.webhook_url or "", key="ra_webhook")
            chat = st.text_input("Telegram chat id (optional)", value=alerts.telegram_chat_id or "", key="ra_chat")
            token = st.text_input(
                "Telegram bot token",
                type="password",
                key="ra_token",
                placeholder="stored (leave empty to keep)" if token_stored else "not stored",
                help="Stored encrypted; never shown or logged.",
            )
            minimum = st.selectbox(
                "Deliver from severity",
                ["info", "warning", "critical"],
                index=["info", "warning", "critical"].index(alerts.delivery_min_severity),
                key="ra_min",
            )
        if st.form_submit_button("Save alert settings", type="primary"):
            _save(
                database,
                save_alert_settings,
                {
                    "large_move_pct": move / 100,
                    "large_move_window_hours": int(move_window),
                    "stale_data_minutes": int(stale),
                    "worker_silent_minutes": int(silent),
                    "webhook_url": webhook,
                    "telegram_chat_id": chat,
                    "delivery_min_severity": minimum,
                },
                "Alert settings",
            )
            if token.strip():
                database.run(lambda session: store.set(session, TELEGRAM_TOKEN_SECRET, token.strip()))
                st.success("Telegram bot token stored encrypted.")
