"""Portfolio: equity, cash, holdings, P&L in EUR, allocation and the equity curve (refreshes live)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.ui.context import database, page_setup, read
from app.ui.figures import allocation_figure, equity_figure
from app.ui.format import eur, pct, quantity, vienna_time
from app.ui.tables import closed_positions_frame, holdings_frame
from core.execution.enums import ExitReason
from core.execution.orders import OrderValidationError
from core.execution.queries import ticket_instruments
from core.execution.service import place_order
from core.execution.settings import load_trading_config
from core.portfolio.actions import REDUCE_FRACTIONS, reduce_request
from core.portfolio.valuation import equity_curve, portfolio_accounts, value_portfolio
from core.system.status import stale_since

REFRESH_SECONDS = 30
EQUITY_CURVE_POINTS = 1500
ALL_ACCOUNTS = "All accounts"

username = page_setup("Portfolio", ":material/account_balance_wallet:")

accounts = read(portfolio_accounts)
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
    tiles[0].metric("Equity", eur(equity), pct(valuation.total_return),
                    help="Cash plus the market value of all holdings; the change is against net deposits.")  # fmt: skip
    tiles[1].metric("Cash", eur(valuation.cash_eur))
    tiles[2].metric("Market value", eur(valuation.market_value_eur))
    tiles[3].metric("Unrealised P&L", eur(valuation.unrealised_pnl_eur, signed=True), pct(valuation.unrealised_return))
    tiles[4].metric("Realised P&L", eur(valuation.realised_pnl_eur, signed=True),
                    help="Gains and losses of sales at average cost, after fees.")  # fmt: skip

    with st.container(border=True):
        st.markdown("**Holdings**")
        if valuation.holdings:
            table, column_config = holdings_frame(valuation.holdings, show_account=len(selected) > 1)
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
            st.plotly_chart(equity_figure(points, height=300), width="stretch", config={"displayModeBar": False},
                            key="equity_chart")  # fmt: skip
        else:
            st.caption("No snapshots yet: the portfolio worker stores one per account every hour.")
    with right, st.container(border=True):
        st.markdown("**Allocation**")
        st.plotly_chart(allocation_figure(valuation.allocation, height=300), width="stretch",
                        config={"displayModeBar": False}, key="allocation_chart")  # fmt: skip
    stale = [(item.symbol, since) for item in valuation.holdings
             if (since := stale_since(item.price_time, item.asset_class)) is not None]  # fmt: skip
    if stale:
        st.warning("Stale prices: " + ", ".join(f"{symbol} stale since {vienna_time(since)}" for symbol, since in stale)
                   + " (Vienna) — their values use the last known price.", icon=":material/schedule:")  # fmt: skip
    st.caption(
        f"Prices as of {vienna_time(valuation.valued_at)} (Vienna) · refreshes every {REFRESH_SECONDS} s · "
        f"{len(valuation.holdings)} open positions in {len(selected)} account(s)"
    )


live_portfolio()


def _fraction_label(value: Decimal) -> str:
    return "close (100 %)" if value == 1 else f"{value * 100:.0f} %"


with st.expander("Close or reduce a paper position", icon=":material/sell:"):
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
        with st.form("reduce_position"):
            labels = [f"{item.symbol} · {quantity(item.quantity)}" for item in holdings]
            chosen = st.selectbox(
                "Position", range(len(holdings)), format_func=labels.__getitem__, key="reduce_holding"
            )
            fraction = st.segmented_control(
                "Sell", REDUCE_FRACTIONS, default=Decimal(1), format_func=_fraction_label, key="reduce_fraction"
            )
            submitted = st.form_submit_button("Place market sell (paper)", type="primary")
        if submitted:
            holding = holdings[int(chosen or 0)]
            try:
                request = reduce_request(holding.symbol, holding.quantity, Decimal(fraction or 1))
            except OrderValidationError as error:
                st.error(f"Not placed: {error}")
            else:
                with database().session() as session:
                    order = place_order(session, request, actor=username or "dashboard", exit_reason=ExitReason.MANUAL)
                    client_id, status, reason = order.client_order_id, order.status.value, order.reject_reason
                if reason:
                    st.error(f"Order `{client_id}` rejected: {reason}")
                else:
                    st.success(
                        f"Sell order `{client_id}` queued ({status}); the executor fills it and the holdings update."
                    )
        st.caption("Set or move stop-loss and take-profit on the Trade page (attached exits).")
