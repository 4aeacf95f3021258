"""Settings → Trading: paper or live mode, One Trading and Bitpanda API keys, fees and slippage, paper cash."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import streamlit as st

from app.ui.demo_exit import show_demo_refusal
from core.db.engine import Database
from core.execution.admin import LiveModeError, set_live_mode, set_trading_value, store_api_key
from core.execution.service import deposit_paper_cash
from core.execution.settings import SECRET_BITPANDA_KEY, SECRET_ONETRADING_KEY, load_trading_config
from core.security.demo_guard import DemoModeError, RealAct, refuse_while_demo
from core.security.secrets import SecretStore
from core.security.totp import has_totp, listens_beyond_localhost
from core.system.models import UserAccount

TITLE = "Trading"
ORDER = 40
LIVE_TOGGLE_KEY = "trading_live_toggle"
LIVE_ERROR_KEY = "_trading_live_refusal"


def _actor() -> str:
    return str(st.session_state.get("username") or "dashboard")


def _switch_live(database: Database) -> None:
    """Toggle callback: switch live mode, or put the toggle back and keep the refusal to show."""
    wanted = bool(st.session_state.get(LIVE_TOGGLE_KEY))
    try:
        if wanted:
            database.run(lambda session: refuse_while_demo(session, RealAct.ENABLE_LIVE_TRADING))
            _check_second_factor(database)
        with database.session() as session:
            set_live_mode(session, wanted, actor=_actor())
    except (LiveModeError, DemoModeError) as error:
        st.session_state[LIVE_TOGGLE_KEY] = not wanted
        st.session_state[LIVE_ERROR_KEY] = error


def _check_second_factor(database: Database) -> None:
    """Refuse live trading on a dashboard reachable from other machines unless this user has a TOTP factor."""
    if not listens_beyond_localhost(st.get_option("server.address")):
        return
    user = database.run(lambda session: session.get(UserAccount, _actor()))
    if not has_totp(user):
        raise LiveModeError(
            "this dashboard listens beyond localhost: enable two-factor authentication "
            "(Settings → Account & security) before enabling live trading"
        )


def render(database: Database) -> None:
    """Render the trading settings."""
    config = database.run(load_trading_config)
    masked = database.run(lambda session: SecretStore().masked(session))

    st.subheader("Mode")
    if config.live_enabled:
        st.error("**Live trading is ON.** Live orders go to One Trading with real money (each needs confirmation).")
    else:
        st.success("Paper trading (live trading is off).")
    st.toggle(
        "Enable live trading", value=config.live_enabled, key=LIVE_TOGGLE_KEY, on_change=_switch_live, args=(database,)
    )
    refusal = st.session_state.pop(LIVE_ERROR_KEY, None)
    if isinstance(refusal, DemoModeError):
        st.error(str(refusal), icon=":material/science:")
        show_demo_refusal(refusal)
    elif refusal is not None:
        st.error(str(refusal))

    st.subheader("API keys (stored encrypted)")
    for label, name in (
        ("One Trading API key", SECRET_ONETRADING_KEY),
        ("Bitpanda API key (read-only)", SECRET_BITPANDA_KEY),
    ):
        with st.form(f"key_{name}", border=True):
            st.caption(f"{label}: {masked.get(name, 'not set')}")
            value = st.text_input(label, type="password", key=f"key_input_{name}")
            save, delete = st.columns(2)
            if save.form_submit_button("Save key"):
                if value.strip():
                    with database.session() as session:
                        store_api_key(session, name, value, actor=_actor())
                    st.success(f"{label} saved.")
                else:
                    st.error("Enter a key first.")
            if delete.form_submit_button("Delete key"):
                with database.session() as session:
                    store_api_key(session, name, "", actor=_actor())
                st.success(f"{label} deleted.")

    st.subheader("Paper broker, fees")
    fees = config.fees
    with st.form("trading_costs", border=True):
        left, right = st.columns(2)
        values = {
            "trading.paper_slippage": left.text_input(
                "Paper slippage (fraction, 0.0005 = 5 bp)", str(config.paper_slippage)
            ),
            "trading.paper_price_max_age_seconds": right.text_input(
                "Latest price usable for up to (seconds; 0 = wait for the next price)",
                str(config.paper_price_max_age_seconds),
            ),
            "trading.fee.onetrading.maker": left.text_input("One Trading maker fee", str(fees["onetrading"].maker)),
            "trading.fee.onetrading.taker": right.text_input("One Trading taker fee", str(fees["onetrading"].taker)),
            "trading.fee.bitpanda": left.text_input("Bitpanda retail fee", str(fees["bitpanda"].taker)),
        }
        venue = right.selectbox(
            "Paper broker charges the fees of",
            ["onetrading", "bitpanda"],
            index=0 if config.paper_fee_venue == "onetrading" else 1,
        )
        if st.form_submit_button("Save"):
            try:
                with database.session() as session:
                    for key, value in values.items():
                        set_trading_value(session, key, Decimal(value.strip()), actor=_actor())
                    set_trading_value(session, "trading.paper_fee_venue", venue, actor=_actor())
                st.success("Saved.")
            except (InvalidOperation, ValueError) as error:
                st.error(f"Not saved: {error or 'not a number'}")

    st.subheader("Paper account")
    with st.form("paper_deposit", border=True):
        amount = st.text_input("Add play money (EUR)", "10000")
        if st.form_submit_button("Deposit"):
            try:
                with database.session() as session:
                    deposit_paper_cash(session, Decimal(amount), actor=_actor())
                st.success(f"€ {amount} added to the paper account.")
            except (InvalidOperation, ValueError) as error:
                st.error(f"Not deposited: {error or 'not a number'}")
