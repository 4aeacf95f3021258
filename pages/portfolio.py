"""Portfolio: equity, cash, holdings, P&L in EUR, allocation and the equity curve (refreshes live)."""

from __future__ import annotations

import streamlit as st

from app.ui.context import page_setup, read
from app.ui.figures import allocation_figure, equity_figure
from app.ui.format import eur, pct, vienna_time
from app.ui.tables import closed_positions_frame, holdings_frame
from core.portfolio.valuation import equity_curve, portfolio_accounts, value_portfolio
from core.system.status import stale_since

REFRESH_SECONDS = 30
EQUITY_CURVE_POINTS = 1500
ALL_ACCOUNTS = "All accounts"

page_setup("Portfolio", ":material/account_balance_wallet:")

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
