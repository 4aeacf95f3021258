"""Settings → News: RSS feeds, API credentials (encrypted), tagging aliases, subreddits, retention."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.news.config import (
    DEFAULT_FEEDS,
    RETENTION_LABELS,
    SECRET_LABELS,
    NewsConfigError,
    credential_hints,
    delete_credentials,
    load_news_config,
    save_aliases,
    save_credentials,
    save_feeds,
    save_retention,
    save_subreddits,
)
from core.news.queries import instrument_queries
from core.security.secrets import SecretStore, SecretStoreError

TITLE = "News"
ORDER = 40


def _terms_frame(values: dict[str, list[str]], keys: list[str], column: str) -> pd.DataFrame:
    rows = [{"symbol": key, column: ", ".join(values.get(key, []))} for key in keys]
    rows += [{"symbol": key, column: ", ".join(terms)} for key, terms in values.items() if key not in keys]
    return pd.DataFrame(rows, columns=["symbol", column])


def _rows_to_terms(frame: pd.DataFrame, column: str) -> dict[str, str]:
    return {
        str(row["symbol"]).strip(): str(row[column] or "")
        for _, row in frame.iterrows()
        if isinstance(row["symbol"], str) and row["symbol"].strip()
    }


def _terms_editor(
    database: Database,
    values: dict[str, list[str]],
    keys: list[str],
    column: str,
    save: Callable[[Session, dict[str, str]], object],
) -> None:
    """Edit one per-ticker term list (aliases or subreddits) and save it on its button."""
    edited = st.data_editor(
        _terms_frame(values, keys, column),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key=f"news_{column}_editor",
    )
    if st.button(f"Save {column}", key=f"news_save_{column}"):
        try:
            with database.session() as session:
                save(session, _rows_to_terms(edited, column))
            st.success(f"{column.capitalize()} saved.")
        except NewsConfigError as error:
            st.error(str(error))


def render(database: Database) -> None:
    """Render the News settings tab."""
    with database.session() as session:
        config = load_news_config(session)
        queries = instrument_queries(session, config)
    tickers = [query.ticker for query in queries]

    st.subheader("RSS feeds")
    st.caption("Each enabled feed is fetched on its own schedule with conditional requests (ETag / Last-Modified).")
    feeds = pd.DataFrame(
        [{"name": feed.name, "url": feed.url, "enabled": feed.enabled} for feed in config.feeds],
        columns=["name", "url", "enabled"],
    )
    edited = st.data_editor(
        feeds,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key="news_feeds_editor",
        column_config={
            "name": st.column_config.TextColumn("Name", required=True),
            "url": st.column_config.TextColumn("Feed URL", required=True, width="large"),
            "enabled": st.column_config.CheckboxColumn("Enabled", default=True),
        },
    )
    feed_buttons = st.columns([1, 1, 4])
    if feed_buttons[0].button("Save feeds", key="news_save_feeds"):
        rows = [
            {"name": row["name"], "url": row["url"], "enabled": bool(row["enabled"])}
            for _, row in edited.iterrows()
            if isinstance(row["name"], str) or isinstance(row["url"], str)
        ]
        try:
            with database.session() as session:
                saved = save_feeds(session, rows)
            st.success(f"Saved {len(saved)} feeds.")
        except NewsConfigError as error:
            st.error(str(error))
    if feed_buttons[1].button("Restore defaults", key="news_default_feeds"):
        with database.session() as session:
            save_feeds(session, list(DEFAULT_FEEDS))
        st.success("Default feeds restored.")
        st.rerun()

    st.subheader("API credentials")
    st.caption("Stored encrypted; never shown again in full. A source is active when its credentials are stored.")
    try:
        store = SecretStore()
        with database.session() as session:
            hints = credential_hints(session, store)
    except (SecretStoreError, OSError, ValueError) as error:
        st.error(f"The secret store is not available: {error}")
        hints, store = {}, None
    if store is not None:
        with st.form("news_credentials"):
            values = {}
            for key, label in SECRET_LABELS.items():
                hint = hints.get(key)
                values[key] = st.text_input(
                    f"{label} ({'stored: ' + hint if hint else 'not set'})", type="password", key=f"news_secret_{key}"
                )
            remove = st.multiselect(
                "Remove stored credentials",
                [key for key, hint in hints.items() if hint],
                format_func=lambda key: SECRET_LABELS[key],
            )
            if st.form_submit_button("Save credentials"):
                with database.session() as session:
                    stored = save_credentials(session, store, values)
                    removed = delete_credentials(session, store, remove)
                st.success(f"Stored {len(stored)} and removed {len(removed)} credentials.")

    st.subheader("Tagging aliases")
    st.caption("Extra names per ticker or symbol, comma-separated (tickers, $cashtags and names are matched anyway).")
    _terms_editor(database, config.aliases, tickers, "aliases", save_aliases)

    st.subheader("Subreddits")
    _terms_editor(database, config.subreddits, tickers, "subreddits", save_subreddits)

    st.subheader("Retention")
    st.caption("Days to keep each kind of data; 0 keeps it forever. The news worker applies this every few hours.")
    retention_columns = st.columns(len(RETENTION_LABELS))
    retention: dict[str, int | None] = {}
    for column, (key, label) in zip(retention_columns, RETENTION_LABELS.items(), strict=True):
        retention[key] = int(
            column.number_input(
                label,
                min_value=0,
                max_value=36_500,
                step=1,
                value=int(config.retention_days.get(key) or 0),
                key=f"news_retention_{key}",
            )
        )
    if st.button("Save retention", key="news_save_retention"):
        try:
            with database.session() as session:
                save_retention(session, retention)
            st.success("Retention saved.")
        except NewsConfigError as error:
            st.error(str(error))
