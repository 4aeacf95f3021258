"""Settings → Tax: the engine's assumptions, wallets at domestic or foreign providers, KESt entered by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import streamlit as st
from pydantic import ValidationError

from core.db.engine import Database
from core.tax.assumptions import TaxAssumptions, load_assumptions, save_assumption_overrides
from core.tax.report import wallet_infos
from core.tax.settings import add_kest_entry, delete_kest_entry, kest_entries, set_wallet_domestic
from core.timeutil import utc_now

TITLE = "Tax"
ORDER = 80


def render(database: Database) -> None:
    """Render the tax settings."""
    with database.session() as session:
        assumptions = load_assumptions(session)
        wallets = wallet_infos(session, assumptions)
        entries = [
            (entry.id, entry.year, entry.wallet, entry.amount_eur, entry.note) for entry in kest_entries(session)
        ]
    _assumptions_form(database, assumptions)
    _wallets_form(database, wallets)
    _kest_form(database, entries, [info.wallet for info in wallets])


def _assumptions_form(database: Database, assumptions: TaxAssumptions) -> None:
    st.subheader("Assumptions of the tax engine")
    st.caption(
        "Each one is listed in every report. Defaults follow TAX_RULES_AT; items marked (check) are unconfirmed."
    )
    values: dict[str, Any] = {}
    with st.form("tax_assumptions"):
        for name, field in TaxAssumptions.model_fields.items():
            current = getattr(assumptions, name)
            label = name.replace("_", " ")
            help_text = field.description
            key = f"tax_assumption_{name}"
            if isinstance(current, bool):
                values[name] = st.checkbox(label, value=current, help=help_text, key=key)
            elif isinstance(current, StrEnum):
                options = [member.value for member in type(current)]
                values[name] = st.selectbox(label, options, index=options.index(current.value), help=help_text, key=key)
            elif isinstance(current, int):
                values[name] = int(st.number_input(label, value=current, step=1, help=help_text, key=key))
            elif isinstance(current, date):
                values[name] = st.date_input(label, value=current, help=help_text, key=key)
            elif isinstance(current, list):
                text = st.text_input(label, value=", ".join(current), help=help_text, key=key)
                values[name] = [part.strip() for part in text.split(",") if part.strip()]
            else:
                values[name] = st.text_input(label, value=str(current), help=help_text, key=key)
        submitted = st.form_submit_button("Save assumptions")
    if submitted:
        try:
            with database.session() as session:
                save_assumption_overrides(session, values)
            st.success("Assumptions saved.")
        except ValidationError as error:
            st.error(f"Not saved: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")


def _wallets_form(database: Database, wallets: list[Any]) -> None:
    st.subheader("Wallets")
    if not wallets:
        st.info("No wallets in the ledger yet.")
        return
    st.caption("A domestic provider (e.g. Bitpanda) withholds KESt; its results go to KZ 171/173/175.")
    with st.form("tax_wallets"):
        chosen = {
            info.wallet: st.checkbox(
                f"{info.wallet}: domestic provider (KESt withheld)",
                value=info.domestic,
                key=f"tax_wallet_{info.wallet}",
                help="Set in the wallet settings" if info.configured else "Default rule (setting domestic_wallets)",
            )
            for info in wallets
        }
        if st.form_submit_button("Save wallets"):
            with database.session() as session:
                for info in wallets:
                    if chosen[info.wallet] != info.domestic or info.configured:
                        set_wallet_domestic(session, info.wallet, domestic=chosen[info.wallet])
            st.success("Wallets saved.")


def _kest_form(
    database: Database, entries: list[tuple[int, int, str, Decimal, str | None]], wallets: list[str]
) -> None:
    st.subheader("KESt withheld (entered by hand)")
    st.caption("E.g. from the provider's yearly tax report when the ledger has no 'Tax Fiat' column; added to KZ 899.")
    for entry_id, year, wallet, amount, note in entries:
        columns = st.columns([1, 2, 2, 3, 1])
        columns[0].write(str(year))
        columns[1].write(wallet)
        columns[2].write(f"€ {amount:,.2f}")
        columns[3].write(note or "")
        if columns[4].button("Delete", key=f"tax_kest_delete_{entry_id}"):
            with database.session() as session:
                delete_kest_entry(session, entry_id)
            st.rerun()
    with st.form("tax_kest_add", clear_on_submit=True):
        form_columns = st.columns(4)
        year = form_columns[0].number_input("Year", min_value=2009, max_value=2100, value=utc_now().year - 1, step=1)
        wallet = form_columns[1].selectbox("Wallet", wallets or ["bitpanda"], accept_new_options=True)
        amount_text = form_columns[2].text_input("KESt EUR", value="")
        note = form_columns[3].text_input("Note", value="")
        if st.form_submit_button("Add KESt"):
            try:
                amount = Decimal(amount_text.replace(",", "."))
                with database.session() as session:
                    add_kest_entry(session, year=int(year), wallet=str(wallet), amount_eur=amount, note=note or None)
                st.success("KESt entry added.")
            except (InvalidOperation, ValueError) as error:
                st.error(f"Not added: {error if isinstance(error, ValueError) else 'the amount is not a number'}")
