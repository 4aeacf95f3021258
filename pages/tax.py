"""Tax report: the Austrian crypto tax report of a year (E 1kv Kennzahlen, detail, warnings, downloads)."""

from __future__ import annotations

import streamlit as st

from app.ui.context import page_setup, read
from app.ui.format import eur
from core.tax.engine import WarningCode
from core.tax.export import render_report
from core.tax.report import ADVISER_NOTE, DEMO_NOTICE, TaxReport, build_report, report_years
from core.tax.views import DetailFilter, detail_frame, filter_rows, kennzahlen_frame, report_choices

ROW_FILTER_KEY = "tax_row_filter"

page_setup("Tax report", ":material/receipt_long:")
years = read(report_years)
if not years:
    st.info(
        "The ledger is empty. Import a wallet with `konsens import koinly FILE --wallet NAME` "
        "(or a Bitpanda export) and the report of each year appears here."
    )
    st.stop()

if "rows" in st.query_params:  # a warning's link: ?rows=12-1,13-1
    st.session_state[ROW_FILTER_KEY] = [value for value in st.query_params["rows"].split(",") if value]

year = st.selectbox("Year", years, index=0, key="tax_year")
report: TaxReport = read(lambda session: build_report(session, int(year)))
if report.demo:
    st.warning(DEMO_NOTICE, icon=":material/science:")
review_warnings = [warning for warning in report.warnings if warning.code is WarningCode.NEEDS_REVIEW]
if review_warnings:
    st.warning(
        f"{len(review_warnings)} imported row(s) of an unknown type need review and are not used in this report "
        "(see the Warnings tab).",
        icon=":material/rule:",
    )
st.caption(ADVISER_NOTE)

summary = report.summary()
columns = st.columns(5)
columns[0].metric("Realised gains", eur(summary["realised_gains_eur"]))
columns[1].metric("Realised losses", eur(summary["realised_losses_eur"]))
columns[2].metric("Current income", eur(summary["current_income_eur"]))
columns[3].metric("Net (27.5 %)", eur(summary["net_eur"]))
columns[4].metric("Tax 27.5 %", eur(summary["tax_eur"]))
kest_columns = st.columns(3)
kest_columns[0].metric("KESt withheld (KZ 899)", eur(summary["kest_withheld_eur"]))
kest_columns[1].metric("Altvermögen speculation (E 1 KZ 801)", eur(summary["speculation_income_eur"]))
kest_columns[2].metric("Altvermögen tax-free", eur(summary["tax_free_gains_eur"]))

st.subheader("Kennzahlen for the E 1kv")
st.dataframe(kennzahlen_frame(report), hide_index=True, width="stretch")

st.subheader("Downloads")
download_columns = st.columns(4)
for column, (fmt, mime) in zip(
    download_columns,
    [
        ("pdf", "application/pdf"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "text/csv"),
        ("json", "application/json"),
    ],
    strict=True,
):
    column.download_button(
        f"{fmt.upper()}",
        data=lambda fmt=fmt: render_report(report, fmt),  # type: ignore[misc]
        file_name=f"konsens-tax-{year}.{fmt}",
        mime=mime,
        key=f"download_{fmt}",
        icon=":material/download:",
        on_click="ignore",
    )

transactions_tab, warnings_tab, kest_tab, assumptions_tab = st.tabs(
    ["Transactions", f"Warnings ({len(report.warnings)})", "KESt reconciliation", "Assumptions"]
)
with warnings_tab:
    if not report.warnings:
        st.success("No warnings for this year.")
    for index, warning in enumerate(report.warnings):
        with st.container(border=True):
            st.markdown(f"**{warning.code.value.replace('_', ' ')}** — {warning.message}")
            if warning.row_ids:
                shown = ",".join(warning.row_ids[:50])
                st.markdown(f"Rows: [{', '.join(warning.row_ids[:10])}](?rows={shown})")
                if st.button("Show these rows", key=f"warning_rows_{index}"):
                    st.session_state[ROW_FILTER_KEY] = list(warning.row_ids)
                    st.rerun()

with transactions_tab:
    choices = report_choices(report)
    filter_columns = st.columns(4)
    wallets = filter_columns[0].multiselect("Wallet", choices["wallets"], key="tax_wallets")
    coins = filter_columns[1].multiselect("Coin", choices["coins"], key="tax_coins")
    categories = filter_columns[2].multiselect("Category", choices["categories"], key="tax_categories")
    regimes = filter_columns[3].multiselect("Regime", choices["regimes"], key="tax_regimes")
    row_ids = st.session_state.get(ROW_FILTER_KEY) or []
    if row_ids:
        st.info(f"Showing the rows behind a warning: {', '.join(row_ids[:10])}{' …' if len(row_ids) > 10 else ''}")
        if st.button("Show all rows", key="clear_row_filter"):
            st.session_state[ROW_FILTER_KEY] = []
            st.query_params.clear()
            st.rerun()
    rows = filter_rows(report, DetailFilter(wallets, coins, categories, regimes, row_ids))
    st.caption(f"{len(rows)} of {len(report.rows)} rows")
    st.dataframe(
        detail_frame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "Quantity": st.column_config.NumberColumn(format="%.8f"),  # the finest lot step
            **{
                name: st.column_config.NumberColumn(format="%.2f")
                for name in ("Proceeds €", "Cost €", "Gain €", "Avg before €", "Avg after €", "KESt €")
            },
        },
    )

with kest_tab:
    lines = report.kest_reconciliation()
    if lines:
        st.dataframe(
            [
                {
                    "Wallet": line.wallet,
                    "Gains": eur(line.gains),
                    "Losses": eur(line.losses),
                    "Income": eur(line.income),
                    "Net": eur(line.net),
                    "KESt withheld": eur(line.kest_withheld),
                    "27.5 % of net": eur(line.kest_expected),
                    "Difference": eur(line.difference),
                }
                for line in lines
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No domestic (KESt-withholding) wallet had results in this year.")
    settlement = report.kest_settlement()
    st.markdown(
        f"Tax on all Neuvermögen results **{eur(settlement['tax_on_all_neu_eur'])}**, KESt credited (KZ 899) "
        f"**{eur(settlement['kest_credit_eur'])}**, payable after credit "
        f"**{eur(settlement['payable_after_credit_eur'])}**."
    )
    st.caption(
        "Results with KESt withheld are final; declare them only to offset losses against other providers or "
        "to correct flat-cost cases — the withheld KESt is then credited."
    )

with assumptions_tab:
    st.dataframe(report.assumptions.listed(), hide_index=True, width="stretch")
    st.caption("Change them under Settings → Tax.")
