"""Portfolio: equity, cash, holdings, P&L in EUR, allocation and the equity curve (refreshes live)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.ui.context import database, page_setup, read
from app.ui.figures import allocation_figure, equity_figure
from app.ui.format import eur, pct, vienna_time
from app.ui.stale import stale_warning
from app.ui.tables import closed_positions_frame, holdings_frame
from core.execution.enums import ExitReason
from core.execution.orders import OrderValidationError, to_decimal
from core.execution.queries import ticket_instruments
from core.execution.service import place_order
from core.execution.settings import load_trading_config
from core.market.precision import display_precisions
from core.portfolio.actions import (
    REDUCE_FRACTIONS,
    ExitChange,
    current_exits,
    plan_exit_change,
    reduce_request,
    set_holding_exits,
)
from core.portfolio.valuation import Holding, equity_curve, portfolio_accounts, value_portfolio

REFRESH_SECONDS = 30
EQUITY_CURVE_POINTS = 1500
ALL_ACCOUNTS = "All accounts"
PENDING_KEY = "portfolio_pending_action"

username = page_setup("Portfolio", ":material/account_balance_wallet:")

accounts = read(portfolio_accounts)
precisions = read(display_precisions)
if not accounts:
    st.info("No account has any ledger entries yet. Trade on the Trade page or import a Bitpanda export.")
    st.stop()
choice = st.segmented_control("Account", [ALL_ACCOUNTS, *accounts], default=ALL_ACCOUNTS, key="portfolio_account")
selected = accounts if choice in (None, ALL_ACCOUNTS) else [choice]


@st.fragment(run_every=REFRESH_SECONDS)
def live_portfolio() -> None:
    valuation = read(lambda session: value_portfolio(session, selected))
    equity = valuation.equity_eur
    tiles = st.columns(5)
    tiles[0].metric(
        "Equity",
        eur(equity),
        pct(valuation.total_return),
        help="Cash plus the market value of all holdings; the change is against net deposits.",
    )
    tiles[1].metric("Cash", eur(valuation.cash_eur))
    tiles[2].metric("Market value", eur(valuation.market_value_eur))
    tiles[3].metric("Unrealised P&L", eur(valuation.unrealised_pnl_eur, signed=True), pct(valuation.unrealised_return))
    tiles[4].metric(
        "Realised P&L",
        eur(valuation.realised_pnl_eur, signed=True),
        help="Gains and losses of sales at average cost, after fees.",
    )

    with st.container(border=True):
        st.markdown("**Holdings**")
        if valuation.holdings:
            table, column_config = holdings_frame(
                valuation.holdings, show_account=len(selected) > 1, precisions=precisions
            )
            st.dataframe(table, column_config=column_config, hide_index=True, width="stretch", key="holdings_table")
        else:
            st.caption("No open positions.")
        closed = [item for account in valuation.accounts for item in account.closed]
        if closed:
            with st.expander(f"Closed positions ({len(closed)})"):
                st.dataframe(closed_positions_frame(closed), hide_index=True, width="stretch")
        unpriced = sorted({asset for account in valuation.accounts for asset in account.unpriced_assets})
        if unpriced:
            st.warning(f"No EUR price for {', '.join(unpriced)}: left out of the market value.")

    left, right = st.columns([2.2, 1], gap="medium")
    with left, st.container(border=True):
        st.markdown("**Equity curve**")
        points = read(lambda session: equity_curve(session, selected, max_points=EQUITY_CURVE_POINTS))
        if points:
            st.plotly_chart(
                equity_figure(points, height=300), width="stretch", config={"displayModeBar": False}, key="equity_chart"
            )
        else:
            st.caption("No snapshots yet: the portfolio worker stores one per account every hour.")
    with right, st.container(border=True):
        st.markdown("**Allocation**")
        st.plotly_chart(
            allocation_figure(valuation.allocation, height=300),
            width="stretch",
            config={"displayModeBar": False},
            key="allocation_chart",
        )
    stale_warning((item.symbol, item.price_time, item.asset_class) for item in valuation.holdings)
    st.caption(
        f"Prices as of {vienna_time(valuation.valued_at)} (Vienna) · refreshes every {REFRESH_SECONDS} s · "
        f"{len(valuation.holdings)} open positions in {len(selected)} account(s)"
    )


live_portfolio()


def _fraction_label(value: Decimal) -> str:
    return "close (100 %)" if value == 1 else f"{value * 100:.0f} %"


def _level(text: str, name: str) -> Decimal | None:
    return to_decimal(text, name) if text.strip() else None


def _confirm_reduce(holding: Holding, fraction: Decimal) -> None:
    request = reduce_request(holding.symbol, holding.quantity, fraction)
    rule = precisions[holding.symbol]
    st.warning(
        f"Sell {rule.quantity(request.quantity)} {holding.symbol} at market (paper, "
        f"{_fraction_label(fraction)} of {rule.quantity(holding.quantity)})?",
        icon=":material/sell:",
    )
    confirm, cancel = st.columns(2)
    if confirm.button("Confirm sell", type="primary", key="confirm_reduce", width="stretch"):
        st.session_state.pop(PENDING_KEY, None)
        with database().session() as session:
            order = place_order(session, request, actor=username or "dashboard", exit_reason=ExitReason.MANUAL)
            client_id, status, reason = order.client_order_id, order.status.value, order.reject_reason
        if reason:
            st.error(f"Order `{client_id}` {status}: {reason}")
        else:
            st.success(f"Sell order `{client_id}` queued ({status}); the executor fills it and the holdings update.")
    if cancel.button("Cancel", key="cancel_reduce", width="stretch"):
        st.session_state.pop(PENDING_KEY, None)
        st.rerun()


def _confirm_exits(change: ExitChange) -> None:
    rule = precisions[change.symbol]

    def move(label: str, old: Decimal | None, new: Decimal | None) -> str:
        before, after = rule.price(old, symbol=True) if old else "none", rule.price(new, symbol=True) if new else "none"
        return f"{label} {after}" if before == after else f"{label} {before} → {after}"

    st.warning(
        f"{'Move' if change.moves_existing else 'Set'} the exits of {rule.quantity(change.quantity)} {change.symbol} "
        f"(paper; last price {rule.price(change.last_price, symbol=True)}): "
        f"{move('stop-loss', change.previous_stop_loss, change.stop_loss)}, "
        f"{move('take-profit', change.previous_take_profit, change.take_profit)}?",
        icon=":material/shield:",
    )
    confirm, cancel = st.columns(2)
    if confirm.button("Confirm exits", type="primary", key="confirm_exits", width="stretch"):
        st.session_state.pop(PENDING_KEY, None)
        try:
            with database().session() as session:
                set_holding_exits(session, change, actor=username or "dashboard")
        except OrderValidationError as error:
            st.error(f"Not changed: {error}")
        else:
            st.success("Exits armed: the executor worker sells at market when a level is hit.")
    if cancel.button("Cancel", key="cancel_exits", width="stretch"):
        st.session_state.pop(PENDING_KEY, None)
        st.rerun()


with st.expander(
    "Act on a paper holding: close, reduce, stop-loss / take-profit",
    icon=":material/sell:",
    expanded=PENDING_KEY in st.session_state,
):
    paper_account = read(load_trading_config).settings.paper_account
    tradeable = set(read(ticket_instruments))
    holdings = [
        item
        for item in read(lambda session: value_portfolio(session, [paper_account])).holdings
        if item.symbol in tradeable and item.quantity > 0
    ]
    if not holdings:
        st.caption(f"No open position in the paper account ({paper_account}).")
    else:
        labels = [f"{item.symbol} · {precisions[item.symbol].quantity(item.quantity)}" for item in holdings]
        chosen = st.selectbox("Holding", range(len(holdings)), format_func=labels.__getitem__, key="reduce_holding")
        holding = holdings[int(chosen or 0)]
        held_id = holding.instrument_id or 0  # a tradeable holding is priced by an instrument
        stop_now, target_now = read(lambda session: current_exits(session, paper_account, held_id))
        rule = precisions[holding.symbol]
        st.caption(
            f"Price {eur(holding.price_eur)} · stop-loss {rule.price(stop_now, symbol=True)} · "
            f"take-profit {rule.price(target_now, symbol=True)}"
        )
        reduce_tab, exits_tab = st.tabs(["Close / reduce", "Stop-loss / take-profit"])
        with reduce_tab:
            fraction = st.segmented_control(
                "Sell", REDUCE_FRACTIONS, default=Decimal(1), format_func=_fraction_label, key="reduce_fraction"
            )
            if st.button("Review market sell…", key="review_reduce"):
                st.session_state[PENDING_KEY] = ("reduce", holding.symbol, Decimal(fraction or 1))
        with exits_tab:
            left, right = st.columns(2)
            stop_text = left.text_input(
                "Stop-loss price",
                value=rule.price(stop_now).replace(",", "") if stop_now else "",
                placeholder="empty = none",
                key="exit_stop_loss",
            )
            target_text = right.text_input(
                "Take-profit price",
                value=rule.price(target_now).replace(",", "") if target_now else "",
                placeholder="empty = none",
                key="exit_take_profit",
            )
            if st.button("Review exits…", key="review_exits"):
                try:
                    change = read(
                        lambda session: plan_exit_change(
                            session,
                            account=paper_account,
                            symbol=holding.symbol,
                            stop_loss=_level(stop_text, "stop-loss"),
                            take_profit=_level(target_text, "take-profit"),
                        )
                    )
                except OrderValidationError as error:
                    st.session_state.pop(PENDING_KEY, None)
                    st.error(f"Not changed: {error}")
                else:
                    st.session_state[PENDING_KEY] = ("exits", holding.symbol, change)
        pending = st.session_state.get(PENDING_KEY)
        if pending is not None and pending[1] == holding.symbol:
            try:
                if pending[0] == "reduce":
                    _confirm_reduce(holding, pending[2])
                else:
                    _confirm_exits(pending[2])
            except OrderValidationError as error:
                st.session_state.pop(PENDING_KEY, None)
                st.error(f"Not placed: {error}")
        st.caption("The sell and the exits go through the same order path and risk checks as the Trade page.")
