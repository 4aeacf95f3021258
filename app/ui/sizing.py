"""The position-sizing panel of the order ticket: quantity and money at risk per sizing method.

``render_sizing_panel(database, account=..., instrument_id=..., entry=..., stop=..., side=...)``
draws a table of every method's suggestion and returns the overview, so the Trade page can
offer a suggested quantity. It reads only through ``core.risk.service.sizing_overview``.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from app.ui.format import eur, pct
from core.db.engine import Database
from core.execution.enums import OrderSide
from core.risk.service import SizingOverview, sizing_overview


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def sizing_table(overview: SizingOverview) -> pd.DataFrame:
    """Return one display row per sizing method (strings, ready to show)."""
    rows = []
    for suggestion in overview.suggestions:
        size = suggestion.size
        if size is None:
            rows.append(
                {"Method": suggestion.method.label, "Quantity": "–", "Notional": "–", "Money at risk": "–",
                 "% of equity": "–", "Stop": "–", "Note": suggestion.error or ""}
            )  # fmt: skip
            continue
        rows.append(
            {
                "Method": size.method.label,
                "Quantity": _quantity(size.quantity),
                "Notional": eur(size.notional_eur),
                "Money at risk": eur(size.money_at_risk_eur),
                "% of equity": pct(size.fraction_of_equity, signed=False, places=1),
                "Stop": f"{size.stop_price:,.2f}" if size.stop_price is not None else "none",
                "Note": size.note or "",
            }
        )
    return pd.DataFrame(rows)


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
    overview = database.run(
        lambda session: sizing_overview(
            session, account=account, instrument_id=instrument_id, entry=entry, stop=stop, side=side
        )
    )
    statistics = overview.statistics
    facts = [
        f"Equity {eur(overview.equity_eur)}",
        f"cap per order {eur(overview.max_notional_eur)}",
        f"ATR {overview.atr:,.2f}" if overview.atr is not None else "ATR n/a",
        (
            f"{statistics.trades} closed trades, win rate {pct(statistics.win_rate, signed=False, places=0)}"
            + (f", win/loss {statistics.win_loss_ratio:.2f}" if statistics.win_loss_ratio is not None else "")
        ),
    ]
    st.caption(" · ".join(facts))
    st.dataframe(sizing_table(overview), hide_index=True, width="stretch")
    return overview
