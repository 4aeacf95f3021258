"""The Asset (fundamentals) and Macro (economic indicators) panels of the Charts page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import streamlit as st

from app.ui.context import read
from app.ui.format import duration, vienna_time
from core import numbers
from core.fundamentals.models import FundamentalsSource
from core.fundamentals.service import latest_fundamentals
from core.macro.service import latest_macro, upcoming_high_impact
from core.timeutil import utc_now

CRYPTO_ROWS = (
    ("Market cap", "market_cap", "money"),
    ("Market cap rank", "market_cap_rank", "int"),
    ("Fully diluted valuation", "fully_diluted_valuation", "money"),
    ("24 h volume", "volume_24h", "money"),
    ("Volume / market cap", "volume_to_market_cap", "pct"),
    ("Circulating supply", "circulating_supply", "number"),
    ("Total supply", "total_supply", "number"),
    ("Max supply", "max_supply", "number"),
    ("Not yet circulating (dilution)", "dilution", "pct"),
    ("All-time high", "all_time_high", "money"),
    ("From all-time high", "all_time_high_change_pct", "pct_points"),
    ("Commits (4 weeks)", "developer.commit_count_4_weeks", "int"),
    ("GitHub stars", "developer.stars", "int"),
    ("Twitter followers", "community.twitter_followers", "int"),
    ("Reddit subscribers", "community.reddit_subscribers", "int"),
)
STOCK_ROWS = (
    ("Sector", "sector", "text"),
    ("Industry", "industry", "text"),
    ("Market cap", "market_cap", "money"),
    ("P/E (trailing)", "trailing_pe", "ratio"),
    ("P/E (forward)", "forward_pe", "ratio"),
    ("Price / book", "price_to_book", "ratio"),
    ("Price / sales", "price_to_sales", "ratio"),
    ("EV / EBITDA", "enterprise_to_ebitda", "ratio"),
    ("Profit margin", "profit_margin", "pct"),
    ("Revenue growth", "revenue_growth", "pct"),
    ("Dividend yield", "dividend_yield", "pct"),
    ("Ex-dividend date", "ex_dividend_date", "text"),
    ("Next earnings", "earnings_dates", "first"),
    ("52-week high", "fifty_two_week_high", "money"),
    ("52-week low", "fifty_two_week_low", "money"),
    ("Position in 52-week range", "fifty_two_week_position", "pct"),
    ("Expense ratio", "expense_ratio", "pct"),
)


def _lookup(metrics: dict[str, Any], path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _shown(value: Any, style: str, currency: str) -> str | None:
    """One figure of a panel in the number style of ``core.numbers``."""
    if value is None or value == []:
        return None
    if style == "money":
        return numbers.money(Decimal(str(value)), currency)
    if style == "int":
        return numbers.number(int(value), 0)
    if style == "number":
        return numbers.number(float(value), 0)
    if style == "pct":
        return numbers.percent(float(value), signed=False)
    if style == "pct_points":
        return numbers.number(float(value), 2, signed=True) + " %"
    if style == "ratio":
        return numbers.number(float(value), 2)
    if style == "first":
        return str(value[0]) if isinstance(value, list) and value else None
    return str(value)


def asset_panel(instrument_id: int) -> None:
    """Show the instrument's newest fundamentals and their age."""
    view = read(lambda session: latest_fundamentals(session, instrument_id))
    if view is None:
        st.info(
            "No fundamentals collected for this instrument yet. The research worker (`konsens up` runs it) fetches "
            "them daily: CoinGecko for crypto with a CoinGecko id, Yahoo Finance for stocks and ETFs."
        )
        return
    metrics = view.metrics
    currency = str(metrics.get("currency") or "")
    rows = CRYPTO_ROWS if metrics.get("kind") == "crypto" else STOCK_ROWS
    table = [
        {"Metric": label, "Value": shown}
        for label, path, style in rows
        if (shown := _shown(_lookup(metrics, path), style, currency)) is not None
    ]
    age = utc_now() - view.fetched_at
    demo = view.source is FundamentalsSource.DEMO
    origin = "computed from the demo market when the demo was seeded" if demo else f"fetched {duration(age)} ago"
    st.caption(
        f"{metrics.get('name') or view.provider_id} · {view.source.value} · values as of {vienna_time(view.as_of)} "
        f"(Vienna time), {origin}"
    )
    if not demo and age.total_seconds() > 2 * 86_400:
        st.warning(
            f"Stale since {vienna_time(view.fetched_at)}: fundamentals are refreshed daily.", icon=":material/schedule:"
        )
    st.dataframe(table, hide_index=True, width="stretch")
    categories = metrics.get("categories")
    if categories:
        st.caption("Categories: " + ", ".join(str(item) for item in categories))


def macro_panel() -> None:
    """Show the latest macro values, their change and next release, and the next high-impact events."""
    values = read(lambda session: latest_macro(session))
    events = read(lambda session: upcoming_high_impact(session, limit=8))
    if not values:
        st.info(
            "No macro series collected yet. With a FRED API key (Settings → News) the research worker fetches policy "
            "rates, inflation, unemployment, the US 10-year yield, the dollar index and EUR/USD daily."
        )
    else:
        st.dataframe(
            [
                {
                    "Indicator": item.series.title,
                    "Latest": f"{item.value:,.2f}" + (" %" if item.series.unit == "%" else f" {item.series.unit}"),
                    "Change": "–" if item.change is None else f"{item.change:+,.2f}",
                    "For": item.observation_date.strftime("%Y-%m-%d"),
                    "Published": vienna_time(item.published_at, "%Y-%m-%d"),
                    "Next release": vienna_time(item.next_release.time) if item.next_release else "–",
                }
                for item in values
            ],
            hide_index=True,
            width="stretch",
        )
    if events:
        st.markdown("**Next high-impact events**")
        st.dataframe(
            [
                {"When (Vienna)": vienna_time(event.time), "Event": event.title, "Country": event.country}
                for event in events
            ],
            hide_index=True,
            width="stretch",
        )
