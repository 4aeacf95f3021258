"""The position-sizing panel of the order ticket: quantity and money at risk per sizing method.

``render_sizing_panel(database, account=..., instrument_id=..., entry=..., stop=..., side=...)``
draws a narrow table of every method's suggestion (quantities at the instrument's lot
step) and returns the overview, so the Trade page can offer a suggested quantity. It reads
only through ``core.risk.service.sizing_overview``.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from app.ui.format import eur, number, pct
from core.db.engine import Database
from core.execution.enums import OrderSide
from core.market.models import Instrument
from core.market.precision import DEFAULT_PRECISION, DisplayPrecision, precision_of
from core.risk.service import SizingOverview, sizing_overview
from core.risk.sizing import SizingMethod

SHORT_LABELS = {
    SizingMethod.FIXED_FRACTION: "Fixed fraction",
    SizingMethod.FIXED_RISK: "Fixed risk",
    SizingMethod.VOLATILITY: "ATR",
    SizingMethod.KELLY: "Kelly",
}
NBSP = "\u00a0"


def _unbroken(text: str) -> str:
    """Keep ``€ 1,234.56`` on one line in a table cell that wraps at spaces."""
    return text.replace("€ ", f"€{NBSP}").replace(" %", f"{NBSP}%")


def sizing_table(overview: SizingOverview, precision: DisplayPrecision = DEFAULT_PRECISION) -> pd.DataFrame:
    """Return one display row per sizing method (strings, ready to show; four short columns).

    Kept narrow so it fits the ticket's side column (two fifths of the page) without a horizontal
    scroll bar: short method names, the money at risk with its share of equity in one column, and
    a method's own stop and note listed below the table (:func:`sizing_notes`).
    """
    rows = []
    for suggestion in overview.suggestions:
        size = suggestion.size
        label = SHORT_LABELS.get(suggestion.method, suggestion.method.label)
        if size is None:
            rows.append({"Method": label, "Quantity": "–", "Notional": "–", "At risk": "–"})
            continue
        share = pct(size.fraction_of_equity, signed=False, places=1)
        rows.append(
            {
                "Method": label,
                "Quantity": precision.quantity(size.quantity),
                "Notional": _unbroken(eur(size.notional_eur)),
                "At risk": _unbroken(f"{eur(size.money_at_risk_eur)} ({share})"),
            }
        )
    return pd.DataFrame(rows)


def sizing_notes(overview: SizingOverview, precision: DisplayPrecision = DEFAULT_PRECISION) -> list[str]:
    """Return ``"Method: …"`` for each method with its own stop, or whose size is capped, zero or unavailable."""
    notes = []
    for suggestion in overview.suggestions:
        label = SHORT_LABELS.get(suggestion.method, suggestion.method.label)
        parts = []
        size = suggestion.size
        if size is not None and size.stop_price is not None and size.stop_price != overview.stop:
            parts.append(f"stop {precision.price(size.stop_price)}")
        note = size.note if size is not None else suggestion.error
        if note:
            parts.append(note)
        if parts:
            notes.append(f"{label}: {'; '.join(parts)}")
    return notes


def render_sizing_panel(
    database: Database,
    *,
    account: str,
    instrument_id: int,
    entry: Decimal,
    stop: Decimal | None,
    side: OrderSide = OrderSide.BUY,
) -> SizingOverview | None:
    """Draw the sizing panel for a planned entry; return the overview (None if the input is unusable)."""
    if entry <= 0:
        st.caption("Enter an entry price to see position sizes.")
        return None
    overview, precision = database.run(
        lambda session: (
            sizing_overview(session, account=account, instrument_id=instrument_id, entry=entry, stop=stop, side=side),
            precision_of(session.get_one(Instrument, instrument_id)),
        )
    )
    statistics = overview.statistics
    facts = [
        f"Equity {eur(overview.equity_eur)}",
        f"stop {precision.price(overview.stop)}" if overview.stop is not None else "no stop",
        f"cap per order {eur(overview.max_notional_eur)}",
        f"ATR {precision.price(overview.atr)}" if overview.atr is not None else "ATR n/a",
        (
            f"{statistics.trades} closed trades, win rate {pct(statistics.win_rate, signed=False, places=0)}"
            + (f", win/loss {number(statistics.win_loss_ratio, 2)}" if statistics.win_loss_ratio is not None else "")
        ),
    ]
    st.caption(" · ".join(facts))
    st.table(sizing_table(overview, precision), hide_index=True, border="horizontal")
    notes = sizing_notes(overview, precision)
    if notes:
        st.caption("  \n".join(notes))
    return overview
