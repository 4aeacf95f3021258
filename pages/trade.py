"""Trade: order ticket (paper or live), open orders with cancel, order history, fills, trade log."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from app.ui.components.lwchart import price_chart
from app.ui.context import database, page_setup, read
from app.ui.format import bps, eur, pct, quantity, vienna_time
from app.ui.sizing import render_sizing_panel
from app.ui.stale import stale_badge
from core.charts.data import chart_data
from core.charts.overlays import chart_overlays
from core.charts.payload import ChartLayers, chart_payload
from core.execution.enums import OrderSide, OrderType, TimeInForce
from core.execution.orders import AttachedExits, ExitKind, ExitSpec, OrderRequest, OrderValidationError, to_decimal
from core.execution.queries import (
    open_orders,
    order_events,
    order_history,
    orders_by_client_id,
    recent_fills,
    ticket_instruments,
    total_realised_pnl,
    trade_log,
)
from core.execution.service import CancelError, place_order, request_cancel
from core.execution.settings import load_trading_config
from core.market.freshness import price_freshness
from core.market.precision import display_precisions
from core.market.query import instrument_by_symbol
from core.security.totp import live_orders_need_code, verify_totp
from core.system.status import worker_is_running

username = page_setup("Trade", ":material/swap_horiz:")
config = read(load_trading_config)
symbols = read(ticket_instruments)
precisions = read(display_precisions)

TYPE_LABELS = {OrderType.MARKET: "Market", OrderType.LIMIT: "Limit", OrderType.STOP_LIMIT: "Stop-limit"}
SECONDS = "%Y-%m-%d %H:%M:%S"
EXIT_KINDS = {"price": ExitKind.PRICE, "% of entry": ExitKind.PERCENT, "× ATR": ExitKind.ATR}


def _table(rows: list[dict[str, object]]) -> None:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _exit(label: str, key: str) -> ExitSpec | None:
    left, right = st.columns([2, 1])
    value = left.text_input(label, key=f"{key}_value", placeholder="empty = none")
    kind = right.selectbox("as", list(EXIT_KINDS), key=f"{key}_kind", label_visibility="hidden")
    number = to_decimal(value, label) if value.strip() else None
    return None if number is None else ExitSpec(EXIT_KINDS[kind], number)


ORDER_REFRESH_SECONDS = 2
WATCHED_KEY = "trade_watched_orders"
SEEN_FILL_KEY = "trade_seen_fill"
FINAL_ICONS = {
    "filled": ":material/check_circle:",
    "cancelled": ":material/cancel:",
    "expired": ":material/timer_off:",
    "rejected": ":material/block:",
    "denied": ":material/block:",
}


def _fill_toasts() -> None:
    """A toast for each fill that arrived since the last run (newest first)."""
    newest = read(lambda session: recent_fills(session, limit=5))
    seen = st.session_state.get(SEEN_FILL_KEY)
    if seen is not None:  # the fills before the last one seen are new since the last run
        ids = [fill.fill_id for fill in newest]
        for fill in newest[: ids.index(seen) if seen in ids else len(newest)]:
            rule = precisions[fill.symbol]
            st.toast(
                f"Filled: {fill.side} {rule.quantity(fill.quantity)} {fill.symbol} at "
                f"{rule.price(fill.price, symbol=True)}",
                icon=":material/check_circle:",
            )
    st.session_state[SEEN_FILL_KEY] = newest[0].fill_id if newest else ""


@st.fragment(run_every=timedelta(seconds=ORDER_REFRESH_SECONDS))
def placed_orders() -> None:
    """The orders placed in this session with their current state; a toast on each change and fill.

    Re-runs alone every 2 s and reads only those orders and the newest fills (two small queries).
    """
    _fill_toasts()
    watched: dict[str, str] = st.session_state.setdefault(WATCHED_KEY, {})
    if not watched:
        return
    rows, executor_running = read(
        lambda session: (orders_by_client_id(session, list(watched)[-5:]), worker_is_running(session, "executor"))
    )
    waiting = (
        "queued · the executor worker submits it"
        if executor_running
        else ("queued · no executor worker is running: start `konsens up` or `konsens worker executor`")
    )
    for row in rows:
        rule = precisions[row.symbol]
        size = rule.quantity(row.quantity) if row.quantity is not None else eur(row.amount_eur)
        text = f"Order `{row.client_order_id[:8]}` {row.side} {size} {row.symbol} {row.order_type}: **{row.status}**"
        if row.filled_quantity:
            text += (
                f" — filled {rule.quantity(row.filled_quantity)} at {rule.price(row.average_fill_price, symbol=True)}"
            )
        if row.reject_reason:
            text += f" — {row.reject_reason}"
        if watched.get(row.client_order_id) != row.status:
            if watched.get(row.client_order_id) is not None:
                st.toast(
                    f"Order {row.client_order_id[:8]} {row.symbol}: {row.status}",
                    icon=FINAL_ICONS.get(row.status, ":material/sync:"),
                )
            watched[row.client_order_id] = row.status
        icon = FINAL_ICONS.get(row.status, ":material/hourglass_top:")
        with st.container(key=f"placed_{row.client_order_id}"):
            if row.status in ("rejected", "denied"):
                st.error(text, icon=icon)
            elif row.status in ("new", "submitting"):
                st.info(f"{text} · {waiting}", icon=icon)
            else:
                st.success(text, icon=icon)


ticket_column, sizing_column = st.columns([3, 2])
with ticket_column:
    st.subheader("Order ticket")
    venue_choice = st.radio(
        "Venue",
        ["Paper", "Live (One Trading)"],
        horizontal=True,
        help="Live needs live mode and a One Trading API key (Settings → Trading).",
    )
    is_live = venue_choice.startswith("Live")
    if is_live and not config.live_enabled:
        st.warning("Live trading is off. Enable it in Settings → Trading (API key required).")
    if is_live:
        st.error(
            "**LIVE ORDER** — real money on One Trading. Each live order needs your explicit confirmation.",
            icon=":material/warning:",
        )
    with st.form("ticket", clear_on_submit=False, border=True):
        first, second, third = st.columns(3)
        symbol = first.selectbox("Instrument", symbols or ["(no instruments)"])
        side = second.radio(
            "Side", [OrderSide.BUY, OrderSide.SELL], format_func=lambda s: s.value.title(), horizontal=True
        )
        order_type = third.selectbox("Type", list(TYPE_LABELS), format_func=lambda kind: TYPE_LABELS[kind])
        size_mode, size_value, tif_column = st.columns(3)
        sizing = size_mode.radio("Size in", ["Quantity", "EUR amount"], horizontal=True)
        size_text = size_value.text_input("Size", placeholder="e.g. 0.01 or 500")
        time_in_force = tif_column.selectbox("Time in force", list(TimeInForce), format_func=lambda t: t.value.upper())
        limit_column, stop_column = st.columns(2)
        limit_text = limit_column.text_input("Limit price (limit, stop-limit)")
        stop_text = stop_column.text_input("Stop price (stop-limit)")
        st.markdown("**Attached exits** (buy orders)")
        try:
            exits = AttachedExits(
                _exit("Stop-loss", "sl"), _exit("Take-profit", "tp"), _exit("Trailing stop distance", "ts")
            )
            exit_problem = None
        except OrderValidationError as error:
            exits, exit_problem = AttachedExits(), str(error)
        confirmed = st.checkbox("I confirm this LIVE order", disabled=not is_live) if is_live else False
        needs_code = is_live and read(lambda session: live_orders_need_code(session, username))
        order_code = (
            st.text_input("Authenticator code (asked for every live order)", max_chars=6, key="ticket_totp_code")
            if needs_code
            else ""
        )
        submitted = st.form_submit_button(
            "Place LIVE order" if is_live else "Place paper order", type="primary", width="stretch"
        )
    if submitted:
        try:
            if exit_problem:
                raise OrderValidationError(exit_problem)
            if order_type is None or time_in_force is None:
                raise OrderValidationError("choose an order type and a time in force")
            if needs_code and not database().run(lambda session: verify_totp(session, username, order_code)):
                raise OrderValidationError("the authenticator code is wrong or was used already")
            size = to_decimal(size_text, "size")
            request = OrderRequest(
                symbol=symbol,
                side=side,
                order_type=order_type,
                quantity=size if sizing == "Quantity" else None,
                amount_eur=size if sizing == "EUR amount" else None,
                limit_price=to_decimal(limit_text, "limit price"),
                stop_price=to_decimal(stop_text, "stop price"),
                time_in_force=time_in_force,
                exits=exits,
                live=is_live,
                live_confirmed=bool(confirmed),
            )
        except OrderValidationError as error:
            st.error(f"Not placed: {error}")
        else:
            with database().session() as session:
                order = place_order(session, request, actor=username or "dashboard")
                client_id, status, reason = order.client_order_id, order.status.value, order.reject_reason
            if reason:
                st.error(f"Order `{client_id}` {status}: {reason}")
            else:
                watched = st.session_state.setdefault(WATCHED_KEY, {})
                watched[client_id] = status
    placed_orders()

with sizing_column, st.container(border=True):
    st.subheader("Position sizing")
    st.caption("Quantity and money at risk by each sizing rule (Settings → Risk); copy a quantity into the ticket.")
    sizing_symbol = st.selectbox("Instrument", symbols or ["(no instruments)"], key="sizing_symbol")
    instrument = read(lambda session: instrument_by_symbol(session, sizing_symbol)) if symbols else None
    if instrument is not None:
        sizing_instrument_id = instrument.id
        latest = read(lambda session: price_freshness(session, sizing_instrument_id))
        if latest is not None:
            st.caption(
                f"Last price {precisions[sizing_symbol].price(latest.price, symbol=True)} at "
                f"{vienna_time(latest.price_time)} (Vienna)"
            )
            stale_badge(latest, what="Last price")
        entry_column, stop_column = st.columns(2)
        entry_text = entry_column.text_input(
            "Entry price",
            value=precisions[sizing_symbol].price(latest.price).replace(",", "") if latest else "",
            key="sizing_entry",
        )
        stop_text = stop_column.text_input("Stop price", placeholder="empty = no stop", key="sizing_stop")
        try:
            entry_price = to_decimal(entry_text, "entry price") or Decimal(0)
            stop_price = to_decimal(stop_text, "stop price")
        except OrderValidationError as error:
            st.error(str(error))
        else:
            render_sizing_panel(
                database(),
                account=config.settings.live_account if is_live else config.settings.paper_account,
                instrument_id=instrument.id,
                entry=entry_price,
                stop=stop_price,
                side=OrderSide.BUY,
            )
with sizing_column:
    st.metric("Paper slippage", bps(config.paper_slippage))
    fees = config.paper_fees
    st.metric("Paper fees (maker / taker)", f"{pct(fees.maker, signed=False)} / {pct(fees.taker, signed=False)}")
    st.metric("Live trading", "ON" if config.live_enabled else "off")

LIVE_SECONDS = 10


@st.fragment(run_every=timedelta(seconds=LIVE_SECONDS))
def live_price_and_fills(instrument_id: int | None) -> None:
    """Price with the open orders, exits and fills. Re-runs alone every 10 s."""
    if instrument_id is None:
        return
    try:
        data = read(lambda session: chart_data(session, instrument_id, "1h", "1W", with_levels=False))
    except ValueError as error:
        st.caption(str(error))
        return
    if data.candles.empty:
        return
    overlays = read(lambda session: chart_overlays(session, instrument_id, start=data.start, end=data.end))
    layers = ChartLayers(levels=False, events=False, consensus=True, patterns=False)
    payload = chart_payload(
        data, [], overlays=overlays, layers=layers, theme=st.context.theme.type or "dark", height=360, initial_bars=120
    )
    st.caption(f"{data.symbol} · 1h · open orders, exits and fills on the price (refreshes every {LIVE_SECONDS} s)")
    price_chart(payload, key="trade_price_chart")


live_price_and_fills(instrument.id if instrument is not None else None)

open_tab, history_tab, fills_tab, log_tab = st.tabs(["Open orders", "Order history", "Fills", "Trade log"])


@st.fragment(run_every=timedelta(seconds=ORDER_REFRESH_SECONDS))
def open_orders_table() -> None:
    """Orders not yet final; re-runs alone every 2 s, so a fill or cancel shows without a reload."""
    rows = read(open_orders)
    if not rows:
        st.info("No open orders.")
    else:
        _table(
            [
                {
                    "created (Vienna)": vienna_time(row.created_at, SECONDS),
                    "mode": row.mode.upper(),
                    "symbol": row.symbol,
                    "side": row.side,
                    "type": row.order_type,
                    "quantity": precisions[row.symbol].quantity(row.quantity)
                    if row.quantity is not None
                    else eur(row.amount_eur),
                    "limit": precisions[row.symbol].price(row.limit_price),
                    "stop": precisions[row.symbol].price(row.stop_price),
                    "filled": precisions[row.symbol].quantity(row.filled_quantity),
                    "status": row.status + (" (cancel requested)" if row.cancel_requested else ""),
                    "client order id": row.client_order_id,
                }
                for row in rows
            ]
        )
        cancellable = [row for row in rows if not row.cancel_requested]
        if cancellable:
            by_id = {row.client_order_id: row for row in cancellable}
            choice = st.selectbox(
                "Order to cancel",
                list(by_id),
                format_func=lambda client_id: (
                    f"{by_id[client_id].side} {precisions[by_id[client_id].symbol].quantity(by_id[client_id].quantity)}"
                    f" {by_id[client_id].symbol} {by_id[client_id].order_type} — {client_id[:8]}"
                ),
                key="cancel_order_choice",
            )
            if st.button("Request cancel", type="secondary", key="cancel_order_button") and choice is not None:
                try:
                    with database().session() as session:
                        request_cancel(session, choice, actor=username or "dashboard")
                    st.success("Cancel requested; the executor carries it out.")
                except CancelError as error:
                    st.error(str(error))


with open_tab:
    open_orders_table()

with history_tab:
    history = read(lambda s: order_history(s, limit=300))
    if not history:
        st.info("No orders yet.")
    else:
        _table(
            [
                {
                    "created (Vienna)": vienna_time(row.created_at, SECONDS),
                    "mode": row.mode.upper(),
                    "symbol": row.symbol,
                    "side": row.side,
                    "type": row.order_type,
                    "quantity": precisions[row.symbol].quantity(row.quantity),
                    "avg fill": precisions[row.symbol].price(row.average_fill_price),
                    "fees": eur(row.fees_eur),
                    "status": row.status,
                    "client order id": row.client_order_id,
                    "reason": row.reject_reason or (f"exit: {row.exit_reason}" if row.exit_reason else ""),
                }
                for row in history
            ]
        )
        selected = st.selectbox(
            "State changes of",
            history,
            format_func=lambda r: (
                f"{vienna_time(r.created_at)} {r.side} {r.symbol} {r.status} — {r.client_order_id[:8]}"
            ),
        )
        events = read(lambda s: order_events(s, order_id=selected.id))
        _table(
            [
                {
                    "time (Vienna)": vienna_time(event.ts, SECONDS),
                    "from": event.from_status or "",
                    "to": event.to_status,
                    "by": event.actor,
                    "note": event.note or "",
                }
                for event in events
            ]
        )

with fills_tab:
    fills = read(recent_fills)
    if not fills:
        st.info("No fills yet.")
    else:
        _table(
            [
                {
                    "time (Vienna)": vienna_time(fill.ts, SECONDS),
                    "mode": fill.mode.upper(),
                    "symbol": fill.symbol,
                    "side": fill.side,
                    "quantity": precisions[fill.symbol].quantity(fill.quantity),
                    "price": precisions[fill.symbol].price(fill.price),
                    "fee": eur(fill.fee) if fill.fee_asset == "EUR" else f"{quantity(fill.fee)} {fill.fee_asset}",
                    "realised P&L": eur(fill.realised_pnl_eur, signed=True)
                    if fill.realised_pnl_eur is not None
                    else "",
                    "fill id": fill.fill_id,
                }
                for fill in fills
            ]
        )

with log_tab:
    log = read(trade_log)
    if not log:
        st.info("No trades yet.")
    else:
        st.metric("Realised P&L (all trades)", eur(total_realised_pnl(log), signed=True))
        _table(
            [
                {
                    "time (Vienna)": vienna_time(row.ts),
                    "account": row.account,
                    "symbol": row.symbol,
                    "side": row.side,
                    "quantity": precisions[row.symbol].quantity(row.quantity),
                    "price": eur(row.price_eur),
                    "value": eur(row.value_eur),
                    "fee": eur(row.fee_eur),
                    "realised P&L": eur(row.realised_pnl_eur, signed=True) if row.realised_pnl_eur is not None else "",
                }
                for row in log
            ]
        )
