"""Settings tab "Instruments & data": tracked instruments, their data source, source API keys (masked)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.db.engine import Database
from core.market.credentials import credential_fields, delete_credential, masked_credentials, save_credential
from core.market.instruments import (
    InstrumentError,
    add_instrument,
    instrument_rows,
    remove_instrument,
    update_instrument,
)
from core.market.models import AssetClass
from core.market.settings import MarketSettings
from core.market.sources.base import MarketDataError

TITLE = "Instruments & data"
ORDER = 10

SOURCE_HINT = "demo, ccxt:onetrading (or ccxt:<any exchange id>), coingecko, yahoo"
_ERRORS = (InstrumentError, MarketDataError, ValueError)


def _optional(value: str) -> str | None:
    return value.strip() or None


def render(database: Database) -> None:
    """Render the instruments table, the add/change/remove forms and the API keys."""
    rows = database.run(instrument_rows)
    st.subheader("Instruments")
    if rows:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Symbol": row.symbol,
                        "Class": row.asset_class,
                        "Tracked": row.tracked,
                        "Source": row.default_source,
                        "Exchange symbol": row.exchange_symbol or "",
                        "CoinGecko id": row.coingecko_id or "",
                        "Yahoo": row.yahoo_symbol or "",
                        "Demo": row.is_demo,
                    }
                    for row in rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No instruments yet: add one below.")
    _add_form(database)
    if rows:
        _change_form(database, [row.symbol for row in rows], {row.symbol: row for row in rows})
    _credentials(database)


def _add_form(database: Database) -> None:
    with st.form("market_add_instrument", clear_on_submit=True):
        st.markdown("**Add an instrument**")
        left, right = st.columns(2)
        symbol = left.text_input("Symbol", placeholder="BTC/EUR or AAPL", key="market_add_symbol")
        asset_class = right.selectbox(
            "Asset class", ["(infer)", *[member.value for member in AssetClass]], key="market_add_class"
        )
        source = left.text_input(
            "Data source",
            placeholder="default: ccxt:onetrading for crypto, else yahoo",
            help=SOURCE_HINT,
            key="market_add_source",
        )
        coingecko_id = right.text_input("CoinGecko id", placeholder="bitcoin", key="market_add_coingecko")
        yahoo_symbol = left.text_input("Yahoo symbol", placeholder="SAP.DE", key="market_add_yahoo")
        exchange_symbol = right.text_input("Exchange symbol (ccxt)", placeholder="BTC/EUR", key="market_add_exchange")
        submitted = st.form_submit_button("Add instrument")
    if submitted:
        if not symbol.strip():
            st.error("Enter a symbol.")
            return
        try:
            added = database.run(
                lambda session: (
                    add_instrument(
                        session,
                        symbol,
                        asset_class=None if asset_class == "(infer)" else asset_class,
                        default_source=_optional(source),
                        coingecko_id=_optional(coingecko_id),
                        yahoo_symbol=_optional(yahoo_symbol),
                        exchange_symbol=_optional(exchange_symbol),
                    ).symbol
                )
            )
        except _ERRORS as error:
            st.error(str(error))
        else:
            st.success(f"Added {added}; the market worker collects it from its next pass.")


def _change_form(database: Database, symbols: list[str], rows: dict[str, object]) -> None:
    st.markdown("**Change or remove an instrument**")
    symbol = st.selectbox("Instrument", symbols, key="market_change_symbol")
    row = rows[symbol]
    with st.form(f"market_change_instrument_{symbol}"):
        left, right = st.columns(2)
        source = left.text_input(
            "Data source",
            value=getattr(row, "default_source", ""),
            help=SOURCE_HINT,
            key=f"market_change_source_{symbol}",
        )
        tracked = right.checkbox(
            "Tracked (collected by the market worker)",
            value=bool(getattr(row, "tracked", True)),
            key=f"market_change_tracked_{symbol}",
        )
        coingecko_id = left.text_input(
            "CoinGecko id", value=getattr(row, "coingecko_id", None) or "", key=f"market_change_coingecko_{symbol}"
        )
        yahoo_symbol = right.text_input(
            "Yahoo symbol", value=getattr(row, "yahoo_symbol", None) or "", key=f"market_change_yahoo_{symbol}"
        )
        save = st.form_submit_button("Save changes")
    if save:
        try:
            database.run(
                lambda session: update_instrument(
                    session,
                    symbol,
                    default_source=source,
                    tracked=tracked,
                    coingecko_id=coingecko_id,
                    yahoo_symbol=yahoo_symbol,
                )
            )
        except _ERRORS as error:
            st.error(str(error))
        else:
            st.success(f"Saved {symbol}.")
    delete = st.checkbox("Also delete its candles and quotes", key="market_remove_delete")
    if st.button(f"Remove {symbol}", key="market_remove"):
        try:
            outcome = database.run(lambda session: remove_instrument(session, symbol, delete=delete))
        except _ERRORS as error:
            st.error(str(error))
        else:
            st.success(f"{symbol} {outcome}.")


def _credentials(database: Database) -> None:
    st.subheader("API keys")
    st.caption("Stored encrypted; shown masked only. Keys are optional: public market data needs none.")
    exchange = MarketSettings().market_default_exchange
    masked = database.run(lambda session: masked_credentials(session, exchange))

    def save(name: str, entered: str) -> None:
        database.run(lambda session: save_credential(session, exchange, name, entered))

    def delete(name: str) -> None:
        database.run(lambda session: delete_credential(session, exchange, name))

    for field in credential_fields(exchange):
        left, middle, right = st.columns([3, 2, 1])
        value = left.text_input(
            field.label, type="password", key=f"secret_input_{field.name}", placeholder=masked[field.name] or "not set"
        )
        middle.write("")
        if middle.button("Save", key=f"secret_save_{field.name}"):
            try:
                save(field.name, value)
            except ValueError as error:
                st.error(str(error))
            else:
                st.success(f"{field.label} saved.")
        if masked[field.name] and right.button("Delete", key=f"secret_delete_{field.name}"):
            delete(field.name)
            st.success(f"{field.label} deleted.")
