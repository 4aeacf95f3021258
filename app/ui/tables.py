"""Tables of the dashboard: domain results turned into display frames with column formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core.portfolio.valuation import ClosedPosition, Holding
from core.timeutil import VIENNA


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _pnl_colour(value: Any) -> str:
    if value is None or pd.isna(value) or value == 0:
        return ""
    return f"color: {'#26a69a' if value > 0 else '#ef5350'}"


def holdings_frame(holdings: Sequence[Holding], *, show_account: bool) -> tuple[Any, dict[str, Any]]:
    """Return the holdings table (display floats) and its column formats."""
    rows = [
        {
            "Account": holding.account,
            "Symbol": holding.symbol,
            "Quantity": _float(holding.quantity),
            "Avg cost": _float(holding.average_cost_eur),
            "Price": _float(holding.price_eur),
            "Market value": _float(holding.market_value_eur),
            "Unrealised P&L": _float(holding.unrealised_pnl_eur),
            "Unrealised %": _float(holding.unrealised_return * 100) if holding.unrealised_return is not None else None,
            "Realised P&L": _float(holding.realised_pnl_eur),
        }
        for holding in holdings
    ]
    frame = pd.DataFrame(rows)
    if not show_account:
        frame = frame.drop(columns=["Account"])
    money = "euro"
    config = {
        "Symbol": st.column_config.TextColumn(help="Instrument that prices the asset"),
        "Quantity": st.column_config.NumberColumn(format="%.6g"),
        "Avg cost": st.column_config.NumberColumn(format=money),
        "Price": st.column_config.NumberColumn(format=money),
        "Market value": st.column_config.NumberColumn(format=money),
        "Unrealised P&L": st.column_config.NumberColumn(format=money),
        "Unrealised %": st.column_config.NumberColumn(format="%+.2f %%"),
        "Realised P&L": st.column_config.NumberColumn(format=money),
    }
    styled = frame.style.map(_pnl_colour, subset=["Unrealised P&L", "Unrealised %", "Realised P&L"])
    return styled, config


def closed_positions_frame(closed: Sequence[ClosedPosition]) -> pd.DataFrame:
    """Return the closed positions with their realised P&L."""
    return pd.DataFrame(
        [{"Account": item.account, "Symbol": item.symbol, "Realised P&L (EUR)": float(item.realised_pnl_eur)}
         for item in closed]
    )  # fmt: skip


def vienna_column(values: Sequence[Any]) -> pd.Series:
    """Return aware UTC datetimes as naive Europe/Vienna times for a table column."""
    index = pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))
    return pd.Series(index.tz_convert(VIENNA).tz_localize(None))


def coloured_by(rows: Sequence[dict[str, Any]], column: str, colours: dict[str, str]) -> Any:
    """Return ``rows`` as a styled frame whose ``column`` text is coloured by its value."""
    frame = pd.DataFrame(list(rows))
    return frame.style.map(lambda value: f"color: {colours[value]}" if value in colours else "", subset=[column])
