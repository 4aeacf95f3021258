"""The one "stale since …" badge of every page that values something with a price.

Staleness is decided in core: ``core.system.status.stale_since`` (trading time, a tolerance of two
expected intervals) with the interval of the price's source — a series' timeframe
(``core.market.freshness.price_freshness``) or one hour for the valuation's prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import streamlit as st

from app.ui.format import vienna_time
from core.market.freshness import PriceFreshness
from core.system.status import stale_since

STALE_ICON = ":material/schedule:"
VALUATION_INTERVAL = timedelta(hours=1)
"""The valuation prices each asset from its newest candle; the market worker collects hourly."""


def stale_text(since: datetime, what: str = "price") -> str:
    return f"{what} stale since {vienna_time(since)} (Vienna)"


def stale_badge(freshness: PriceFreshness | None, *, what: str = "Price") -> bool:
    """Draw a "stale since …" badge when the price is stale; return whether it is."""
    if freshness is None or freshness.stale_since is None:
        return False
    st.badge(stale_text(freshness.stale_since, what), icon=STALE_ICON, color="orange")
    return True


def stale_prices(
    items: Iterable[tuple[str, datetime | None, str]], *, expected_interval: timedelta = VALUATION_INTERVAL
) -> list[tuple[str, datetime]]:
    """Return ``(label, stale since)`` of the items ``(label, price time, asset class)`` whose price is stale."""
    found = []
    for label, price_time, asset_class in items:
        since = stale_since(price_time, asset_class, expected_interval=expected_interval)
        if since is not None:
            found.append((label, since))
    return found


def stale_warning(items: Iterable[tuple[str, datetime | None, str]], *, used_for: str = "values") -> bool:
    """Warn once, naming each stale price of ``items`` ``(label, price time, asset class)``; return whether any."""
    stale = stale_prices(items)
    if not stale:
        return False
    st.warning(
        "Stale prices: "
        + ", ".join(f"{label} stale since {vienna_time(since)}" for label, since in stale)
        + f" (Vienna) — their {used_for} use the last known price.",
        icon=STALE_ICON,
    )
    return True


def stale_freshness_warning(items: Iterable[tuple[str, PriceFreshness | None]], *, used_for: str = "values") -> bool:
    """Warn once, naming each stale price of ``items`` ``(label, freshness)`` (each judged by its source)."""
    stale = [(label, item.stale_since) for label, item in items if item is not None and item.stale_since is not None]
    if not stale:
        return False
    st.warning(
        "Stale prices: "
        + ", ".join(f"{label} stale since {vienna_time(since)}" for label, since in stale)
        + f" (Vienna) — their {used_for} use the last known price.",
        icon=STALE_ICON,
    )
    return True
