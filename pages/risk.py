"""Risk: trading state with kill switch and reset, metrics, drawdown, return distribution, exposure, limits, alerts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from app.ui.cache import versioned
from app.ui.context import database, page_setup, read
from app.ui.format import eur, number, pct, vienna_time
from app.ui.risk_figures import RISK_TABLES, distribution_chart, drawdown_chart, exposure_figure
from app.ui.stale import stale_freshness_warning
from core.market.freshness import price_freshness
from core.risk.alerts import acknowledge_alert, acknowledge_all, list_alerts, unacknowledged_count
from core.risk.exposure import account_exposure, known_accounts
from core.risk.models import GLOBAL_SCOPE, TradingState
from core.risk.service import LimitStatus, LimitUsage, exposure_by_asset, risk_metrics, risk_snapshot
from core.risk.state import engage_kill_switch, reset_trading, scope_state

username = page_setup("Risk", ":material/shield:")

STATE_STYLE = {
    TradingState.ACTIVE: (":green-background[**ACTIVE**]", "All orders the limits allow."),
    TradingState.REDUCING: (":orange-background[**REDUCING**]", "Only orders that reduce exposure."),
    TradingState.HALTED: (":red-background[**HALTED**]", "Nothing but cancels until a manual reset."),
}


def _ratio(value: float) -> str:
    return "–" if value is None or math.isnan(value) else ("∞" if math.isinf(value) else number(value, 2))


def _percent(value: float) -> str:
    return "–" if value is None or math.isnan(value) else pct(value, signed=False)


def limits_summary(limits: Sequence[LimitUsage], problem: str | None) -> str:
    """The limits at a glance: how many are breached or near, else "all ok" (details: Exposure and limits)."""
    if problem:
        return "invalid"
    breached = sum(usage.status == LimitStatus.BREACHED for usage in limits)
    near = sum(usage.status == LimitStatus.WARNING for usage in limits)
    parts = [f"{breached} breached"] * bool(breached) + [f"{near} near"] * bool(near)
    return ", ".join(parts) or "all ok"


accounts = read(known_accounts) or ["paper"]
account = st.selectbox("Account", accounts, index=accounts.index("paper") if "paper" in accounts else 0)
snapshot = read(lambda session: risk_snapshot(session, account))
kill_switch = read(lambda session: scope_state(session, GLOBAL_SCOPE))
open_alerts = read(unacknowledged_count)

# --- trading state and controls -----------------------------------------------------------------
with st.container(border=True):
    left, right = st.columns([3, 2], vertical_alignment="center")
    with left:
        badge, meaning = STATE_STYLE[snapshot.state.state]
        st.markdown(f"#### Trading state: {badge}")
        st.caption(meaning)
        if snapshot.state.state is not TradingState.ACTIVE:
            if snapshot.state.scope != GLOBAL_SCOPE:
                where = f"account {account}"
            elif snapshot.state.rule == "kill_switch":
                where = "kill switch (all accounts)"
            else:
                where = "all accounts"
            st.warning(
                f"{where}: **{snapshot.state.rule}** — {snapshot.state.reason} "
                f"(since {vienna_time(snapshot.state.changed_at)}, by {snapshot.state.changed_by})",
                icon=":material/block:",
            )
    with right:
        if kill_switch.state is TradingState.HALTED:
            if st.button("Release kill switch", icon=":material/lock_open:", width="stretch"):
                database().run(lambda session: reset_trading(session, GLOBAL_SCOPE, actor=username))
                st.rerun()
        else:
            with st.popover("Kill switch", icon=":material/power_settings_new:", width="stretch"):
                reason = st.text_input("Reason", value="manual stop", key="kill_reason")
                if st.button("HALT all trading", type="primary", key="kill_confirm"):
                    database().run(lambda session: engage_kill_switch(session, actor=username, reason=reason))
                    st.rerun()
        own_state = read(lambda session: scope_state(session, account))
        if own_state.state is not TradingState.ACTIVE:
            with st.popover(f"Reset {account}", icon=":material/restart_alt:", width="stretch"):
                st.caption("Measures loss and drawdown from the equity now on; recorded in the audit log.")
                note = st.text_input("Note", value="reviewed the breach", key="reset_note")
                if st.button("Reset to ACTIVE", type="primary", key="reset_confirm"):

                    def _reset(session: Session) -> bool:
                        equity = account_exposure(session, account).equity_eur
                        return reset_trading(session, account, actor=username, note=note, equity_eur=equity)

                    database().run(_reset)
                    st.rerun()
    equity = snapshot.exposure.equity_eur
    columns = st.columns(6)
    columns[0].metric("Equity", eur(equity))
    columns[1].metric("Cash", eur(snapshot.exposure.cash_eur))
    columns[2].metric("Gross exposure", eur(snapshot.exposure.gross_exposure_eur))
    columns[3].metric(
        "Exposure / equity",
        pct(snapshot.exposure.gross_exposure_eur / equity, signed=False, places=1) if equity > 0 else "–",
    )
    columns[4].metric("Limits", limits_summary(snapshot.limits, snapshot.limits_problem))
    columns[5].metric("Open alerts", open_alerts)

positions = snapshot.exposure.positions
freshness = read(lambda session: [(item.symbol, price_freshness(session, item.instrument_id)) for item in positions])
stale_freshness_warning(freshness, used_for="exposure and limit usage")


def metrics_section() -> None:
    """Risk metrics of the portfolio and each tracked instrument, drawdown and return distribution."""
    rows = versioned("risk.metrics", risk_metrics, account, tables=RISK_TABLES)  # per data version
    labels = [row.label for row in rows]
    if not rows:
        st.info("Not enough history yet: metrics need at least two days of equity snapshots or prices.")
    else:
        selected = st.segmented_control("Series", labels, default=labels[0], key="metric_series") or labels[0]
        row = next(item for item in rows if item.label == selected)
        values = row.values
        st.caption(
            f"{selected}: {row.observations} daily returns, annualised with {row.periods_per_year} periods per year. "
            "VaR and CVaR are one-day returns (historical; negative = loss)."
        )
        tiles = [
            ("VaR 95 %", _percent(values["var_95"])),
            ("CVaR 95 %", _percent(values["cvar_95"])),
            ("VaR 99 %", _percent(values["var_99"])),
            ("CVaR 99 %", _percent(values["cvar_99"])),
            ("Volatility (ann.)", _percent(values["volatility"])),
            ("Sharpe", _ratio(values["sharpe"])),
            ("Sortino", _ratio(values["sortino"])),
            ("Max drawdown", _percent(values["max_drawdown"])),
            ("Calmar", _ratio(values["calmar"])),
            ("CAGR", _percent(values["cagr"])),
        ]
        for start in (0, 5):
            for column, (label, text) in zip(st.columns(5), tiles[start : start + 5], strict=True):
                column.metric(label, text)

        table = pd.DataFrame(
            [
                {
                    "Series": item.label,
                    "Days": item.observations,
                    "VaR 95": _percent(item.values["var_95"]),
                    "CVaR 95": _percent(item.values["cvar_95"]),
                    "VaR 99": _percent(item.values["var_99"]),
                    "CVaR 99": _percent(item.values["cvar_99"]),
                    "Gauss VaR 99": _percent(item.values["gaussian_var_99"]),
                    "Volatility": _percent(item.values["volatility"]),
                    "Sharpe": _ratio(item.values["sharpe"]),
                    "Sortino": _ratio(item.values["sortino"]),
                    "Max DD": _percent(item.values["max_drawdown"]),
                    "Calmar": _ratio(item.values["calmar"]),
                }
                for item in rows
            ]
        )
        st.dataframe(table, hide_index=True, width="stretch")

        chart_left, chart_right = st.columns(2)
        with chart_left:
            st.markdown("**Portfolio drawdown**")
            drawdown = drawdown_chart(account)
            if drawdown is None:
                st.caption("No equity history.")
            else:
                st.plotly_chart(drawdown, width="stretch")
        with chart_right:
            st.markdown(f"**Return distribution: {selected}**")
            distribution = distribution_chart(account, selected)
            if distribution is None:
                st.caption("Not enough returns.")
            else:
                st.plotly_chart(distribution, width="stretch")


def exposure_section() -> None:
    """Exposure by asset and the limits with their usage."""
    st.subheader("Exposure by asset")
    exposure_rows = exposure_by_asset(snapshot.exposure)
    if not exposure_rows:
        st.caption("No open positions.")
    else:
        chart_column, table_column = st.columns([3, 2])
        with chart_column:
            st.plotly_chart(exposure_figure(exposure_rows), width="stretch")
        with table_column:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "Asset": row.symbol,
                            "Class": row.asset_class,
                            "Value": eur(row.value_eur),
                            "Of equity": pct(row.fraction_of_equity, signed=False, places=1),
                        }
                        for row in exposure_rows
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
    with st.container():
        st.subheader("Limits")
        if snapshot.limits_problem:
            st.error(f"{snapshot.limits_problem}. Fix them under Settings → Risk.", icon=":material/block:")
        status_icon = {"ok": "ok", "warning": "near limit", "breached": "BREACHED"}
        limits_table = pd.DataFrame(
            [
                {
                    "Limit": usage.label,
                    "Setting": usage.limit,
                    "Now": usage.current,
                    "Used": None if usage.used is None else min(usage.used, 1.0) * 100,
                    "Status": status_icon[usage.status],
                }
                for usage in snapshot.limits
            ]
        )
        st.dataframe(
            limits_table,
            hide_index=True,
            width="stretch",
            column_config={
                "Used": st.column_config.ProgressColumn("Used", min_value=0, max_value=100, format="%.0f %%")
            },
        )
        st.caption("Edit the limits under Settings → Risk (every change is audited).")


def alerts_section() -> None:
    """Open (or every) risk alert, each acknowledgeable."""
    st.subheader(f"Alerts ({open_alerts} open)")
    show_all = st.toggle("Show acknowledged", value=False)
    alerts = read(lambda session: list_alerts(session, include_acknowledged=show_all, limit=100))
    if open_alerts and st.button("Acknowledge all", icon=":material/done_all:"):
        database().run(lambda session: acknowledge_all(session, actor=username))
        st.rerun()
    if not alerts:
        st.caption("No open alerts." if not show_all else "No alerts.")
    severity_icon = {"info": "ℹ️", "warning": "⚠️", "critical": "🛑"}
    for alert in alerts:
        with st.container(border=True):
            text_column, button_column = st.columns([6, 1], vertical_alignment="center")
            with text_column:
                st.markdown(
                    f"{severity_icon[alert.severity.value]} **{alert.kind.value.replace('_', ' ')}** · "
                    f"{vienna_time(alert.created_at)} · `{alert.subject}`  \n{alert.message}"
                )
                if alert.acknowledged_at is not None:
                    st.caption(f"acknowledged by {alert.acknowledged_by} at {vienna_time(alert.acknowledged_at)}")
                elif alert.delivery_status.value == "failed":
                    st.caption(f"delivery failed: {alert.delivery_error}")
            with button_column:
                if alert.acknowledged_at is None and st.button("Acknowledge", key=f"ack_{alert.id}"):
                    database().run(partial(acknowledge_alert, alert_id=alert.id, actor=username))
                    st.rerun()


# Only the open section runs and is sent to the browser (Streamlit's stateful tabs, issue 21); the
# state, the controls and the tiles above (limits and open alerts included) are always shown. The
# open section is kept in the URL (?section=Alerts).
SECTIONS = {"Metrics": metrics_section, "Exposure and limits": exposure_section, "Alerts": alerts_section}
for tab, render_section in zip(
    st.tabs(list(SECTIONS), key="section", bind="query-params"), SECTIONS.values(), strict=True
):
    if tab.open:
        with tab:
            render_section()
