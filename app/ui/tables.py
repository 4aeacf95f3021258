"""Tables of the dashboard: domain results turned into display frames with column formats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core.market.precision import DEFAULT_PRECISION, DisplayPrecision
from core.numbers import eur
from core.numbers import percent as pct
from core.portfolio.valuation import ClosedPosition, Holding
from core.timeutil import VIENNA


def _pnl_colour(value: Any) -> str:
    """Green for a gain (``+€ …``, ``+1.2 %``), red for a loss (``-€ …``)."""
    text = str(value)
    if text.startswith("+"):
        return "color: #26a69a"
    return "color: #ef5350" if text.startswith("-") else ""


def holdings_frame(
    holdings: Sequence[Holding], *, show_account: bool, precisions: Mapping[str, DisplayPrecision] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Return the holdings table in the number style (quantities at each instrument's lot step) and its columns."""
    steps = precisions or {}
    rows = [
        {
            "Account": holding.account,
            "Symbol": holding.symbol,
            "Quantity": steps.get(holding.symbol, DEFAULT_PRECISION).quantity(holding.quantity),
            "Avg cost": eur(holding.average_cost_eur),
            "Price": eur(holding.price_eur),
            "Market value": eur(holding.market_value_eur),
            "Unrealised P&L": eur(holding.unrealised_pnl_eur, signed=True),
            "Unrealised %": pct(holding.unrealised_return),
            "Realised P&L": eur(holding.realised_pnl_eur, signed=True),
        }
        for holding in holdings
    ]
    frame = pd.DataFrame(rows)
    if not show_account:
        frame = frame.drop(columns=["Account"])
    config = {"Symbol": st.column_config.TextColumn(help="Instrument that prices the asset")}
    styled = frame.style.map(_pnl_colour, subset=["Unrealised P&L", "Unrealised %", "Realised P&L"])
    return styled, config


def closed_positions_frame(closed: Sequence[ClosedPosition]) -> pd.DataFrame:
    """Return the closed positions with their realised P&L."""
    return pd.DataFrame(
        [
            {"Account": item.account, "Symbol": item.symbol, "Realised P&L": eur(item.realised_pnl_eur, signed=True)}
            for item in closed
        ]
    )


def vienna_column(values: Sequence[Any]) -> pd.Series:
    """Return aware UTC datetimes as naive Europe/Vienna times for a table column."""
    index = pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))
    return pd.Series(index.tz_convert(VIENNA).tz_localize(None))


def coloured_by(rows: Sequence[dict[str, Any]], column: str, colours: dict[str, str]) -> Any:
    """Return ``rows`` as a styled frame whose ``column`` text is coloured by its value."""
    frame = pd.DataFrame(list(rows))
    return frame.style.map(lambda value: f"color: {colours[value]}" if value in colours else "", subset=[column])
