"""News & sentiment: latest items per instrument, sentiment and mentions next to the price, calendar, export."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from app.ui.context import database, page_setup, read
from app.ui.format import vienna_time
from app.ui.news_figures import sentiment_price_figure
from core.export import ExportError, ExportFormat, export_bytes, exportable_tables
from core.news.calendar import events_between, upcoming_events
from core.news.models import NewsKind
from core.news.query import (
    NewsFilter,
    latest_items,
    news_instruments,
    news_sources,
    sentiment_summary,
    sentiment_with_price,
)
from core.timeutil import utc_now

PERIODS = {"Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
ALL = "All instruments"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


page_setup("News & sentiment", ":material/newspaper:")

instruments = read(news_instruments)
sources = read(news_sources)
if not instruments:
    st.info(
        "No news collected yet. Start the news worker (`konsens worker news`) and configure feeds and keys "
        "under Settings → News, or seed the demo data with `konsens demo`."
    )
    st.stop()

symbols = {symbol: instrument_id for instrument_id, symbol in instruments}
filter_columns = st.columns([2, 2, 3])
symbol = filter_columns[0].selectbox("Instrument", [*symbols, ALL], key="news_instrument")
period = filter_columns[1].selectbox("Period", list(PERIODS), index=2, key="news_period")
search = filter_columns[2].text_input("Search headlines", key="news_search", placeholder="e.g. ETF, regulation")
more_columns = st.columns([3, 2, 3])
chosen_sources = more_columns[0].multiselect("Sources", sources, key="news_sources")
chosen_kinds = more_columns[1].multiselect("Kind", [kind.value for kind in NewsKind], key="news_kinds")
sentiment_range = more_columns[2].slider("Sentiment", -1.0, 1.0, (-1.0, 1.0), step=0.05, key="news_sentiment")

now = utc_now()
start = now - timedelta(days=PERIODS[period])
instrument_id = symbols.get(symbol)
filters = NewsFilter(
    instrument_id=instrument_id,
    search=search or None,
    sources=chosen_sources,
    kinds=[NewsKind(kind) for kind in chosen_kinds],
    since=start,
    min_sentiment=None if sentiment_range[0] <= -1.0 else sentiment_range[0],
    max_sentiment=None if sentiment_range[1] >= 1.0 else sentiment_range[1],
)
items = read(lambda session: latest_items(session, filters, limit=500))

if instrument_id is not None:
    chosen_id = instrument_id
    frame = read(lambda session: sentiment_with_price(session, chosen_id, start, now))
    events = read(lambda session: events_between(session, start, now))
    last_day = read(lambda session: sentiment_summary(session, chosen_id, now - timedelta(days=1), now))
    whole = read(lambda session: sentiment_summary(session, chosen_id, start, now))
    metric_columns = st.columns(4)
    metric_columns[0].metric("Mentions, last 24 h", f"{last_day.mentions}")
    metric_columns[1].metric("Weighted sentiment, 24 h", _signed(last_day.weighted_sentiment))
    metric_columns[2].metric(f"Mentions, {period.lower()}", f"{whole.mentions}")
    metric_columns[3].metric(f"Weighted sentiment, {period.lower()}", _signed(whole.weighted_sentiment))
    st.plotly_chart(sentiment_price_figure(frame, symbol, events), width="stretch")
else:
    st.caption("Choose one instrument to see its sentiment and mention volume next to its price.")

st.subheader("Latest items")
if items.empty:
    st.info("No items match these filters.")
else:
    table = items.assign(published=items["published_at"].map(vienna_time))[
        ["published", "instruments", "source", "publisher", "title", "sentiment", "influence", "url"]
    ]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "published": st.column_config.TextColumn("Published (Vienna)"),
            "instruments": st.column_config.TextColumn("Instruments"),
            "source": st.column_config.TextColumn("Source"),
            "publisher": st.column_config.TextColumn("Publisher"),
            "title": st.column_config.TextColumn("Title", width="large"),
            "sentiment": st.column_config.NumberColumn("Sentiment", format="%+.2f"),
            "influence": st.column_config.ProgressColumn("Influence", min_value=0.0, max_value=1.0, format="%.2f"),
            "url": st.column_config.LinkColumn("Link", display_text="open"),
        },
    )

st.subheader("Upcoming economic events")
upcoming = read(lambda session: upcoming_events(session, days=14, now=now))
if not upcoming:
    st.caption("No calendar events in the next two weeks (the FRED calendar needs an API key under Settings → News).")
else:
    st.dataframe(
        [
            {
                "When (Vienna)": vienna_time(event.time) if event.time_known else vienna_time(event.time, "%Y-%m-%d"),
                "Event": event.title,
                "Country": event.country,
                "Importance": event.importance.value,
                "Category": event.category or "",
            }
            for event in upcoming
        ],
        hide_index=True,
        width="stretch",
    )

with st.expander("Export data", icon=":material/download:"):
    export_columns = st.columns([2, 2, 2, 1])
    table_name = export_columns[0].selectbox(
        "Table", exportable_tables(), index=None, key="export_table", placeholder="Choose a table"
    )
    first_day = export_columns[1].date_input("From", value=start.date(), key="export_from")
    last_day_input = export_columns[2].date_input("To (inclusive)", value=now.date(), key="export_to")
    export_format = ExportFormat(
        export_columns[3].radio("Format", [f.value for f in ExportFormat], key="export_format")
    )
    if table_name:
        since = datetime.combine(first_day, time(0), tzinfo=UTC)
        until = datetime.combine(last_day_input, time(0), tzinfo=UTC) + timedelta(days=1)
        try:
            with database().session() as session:
                data, result = export_bytes(session, table_name, export_format=export_format, since=since, until=until)
        except ExportError as error:
            st.error(str(error))
        else:
            st.caption(f"{result.rows} rows of {table_name} from {first_day} to {last_day_input} (UTC days).")
            st.download_button(
                f"Download {table_name}.{export_format.value}",
                data=data,
                file_name=f"{table_name}_{first_day}_{last_day_input}.{export_format.value}",
                mime="text/csv" if export_format is ExportFormat.CSV else "application/vnd.apache.parquet",
                key="export_download",
            )
