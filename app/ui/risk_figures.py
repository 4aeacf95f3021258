"""Plotly figures of the Risk page: drawdown, return distribution with VaR lines, exposure.

No server-side Plotly template (as ``app/ui/figures.py``): Streamlit's theme styles the charts in
the browser. Naming ``template="plotly_dark"`` here cost about 25 ms per figure to copy and
validate, and sent the template's ~10 kB with every chart. ``drawdown_chart`` and
``distribution_chart`` build their figures once per data version (``app/ui/cache.py``).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.orm import Session

from app.ui.cache import versioned
from app.ui.downsample import thin
from core.risk.metrics import conditional_value_at_risk, value_at_risk
from core.risk.service import ExposureRow, portfolio_drawdowns, returns_for
from core.timeutil import to_vienna

# What the Risk page's read models are computed from (daily closes, equity snapshots, tracked instruments).
RISK_TABLES = ("candles", "portfolio_snapshots", "instruments", "ledger_entries")

DOWN = "#ef5350"
ACCENT = "#4f8cff"
AMBER = "#f5a623"
GRID = "rgba(139,147,167,0.15)"


def _style(figure: go.Figure, *, height: int) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
    )
    figure.update_xaxes(gridcolor=GRID, zeroline=False)
    figure.update_yaxes(gridcolor=GRID, zeroline=False)
    return figure


def drawdown_figure(drawdowns: pd.Series) -> go.Figure:
    """Area chart of the drawdown below the running peak (in %), Vienna time, thinned to its extremes per bucket."""
    drawdowns = thin(drawdowns)  # a year of hourly snapshots: the deepest point of each screen bucket stays
    index = [to_vienna(ts.to_pydatetime()) for ts in drawdowns.index]
    figure = go.Figure(
        go.Scatter(
            x=index,
            y=drawdowns.to_numpy() * 100,
            fill="tozeroy",
            mode="lines",
            line={"color": DOWN, "width": 1.5},
            fillcolor="rgba(239,83,80,0.25)",
            name="Drawdown",
            hovertemplate="%{x|%d.%m.%Y}: %{y:.2f} %<extra></extra>",
        )
    )
    figure.update_yaxes(ticksuffix=" %")
    return _style(figure, height=260)


def distribution_figure(returns: pd.Series, var_lines: dict[str, float]) -> go.Figure:
    """Histogram of daily returns (in %) with a vertical line for each VaR."""
    figure = go.Figure(
        go.Histogram(
            x=returns.to_numpy() * 100, nbinsx=60, marker={"color": ACCENT}, opacity=0.85, name="Daily returns"
        )
    )
    colours = [AMBER, DOWN, "#ab47bc", "#29b6f6"]
    for index, ((label, value), colour) in enumerate(zip(var_lines.items(), colours, strict=False)):
        figure.add_vline(x=value * 100, line={"color": colour, "width": 2, "dash": "dash"})
        figure.add_annotation(
            x=value * 100,
            y=1.0 - 0.12 * index,
            yref="paper",
            text=f"{label} {value:.2%}",
            showarrow=False,
            xanchor="right",
            font={"color": colour},
            bgcolor="rgba(20,20,20,0.7)",
        )
    figure.update_xaxes(ticksuffix=" %", title_text="daily return")
    figure.update_yaxes(title_text="days")
    return _style(figure, height=300)


def exposure_figure(rows: list[ExposureRow]) -> go.Figure:
    """Horizontal bars of each position's share of equity."""
    ordered = list(reversed(rows))
    figure = go.Figure(
        go.Bar(
            x=[row.fraction_of_equity * 100 for row in ordered],
            y=[row.symbol for row in ordered],
            orientation="h",
            marker={"color": ACCENT},
            text=[f"€ {row.value_eur:,.0f}" for row in ordered],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1f} % of equity<extra></extra>",
        )
    )
    figure.update_xaxes(ticksuffix=" %")
    return _style(figure, height=60 + 40 * max(1, len(rows)))


def drawdown_chart(account: str) -> go.Figure | None:
    """The account's drawdown figure (None without equity history), built once per data version."""

    def build(session: Session, name: str) -> go.Figure | None:
        drawdowns = portfolio_drawdowns(session, name)
        return None if drawdowns.empty else drawdown_figure(drawdowns)

    return versioned("risk.drawdown_chart", build, account, tables=RISK_TABLES)


def distribution_chart(account: str, label: str) -> go.Figure | None:
    """The return distribution of ``label`` with its VaR lines (None with fewer than two returns)."""

    def build(session: Session, name: str, series: str) -> go.Figure | None:
        returns, _periods = returns_for(session, name, series)
        if len(returns) < 2:
            return None
        var_lines = {
            "VaR 95": value_at_risk(returns, 0.95),
            "VaR 99": value_at_risk(returns, 0.99),
            "CVaR 99": conditional_value_at_risk(returns, 0.99),
        }
        return distribution_figure(returns, var_lines)

    return versioned("risk.distribution_chart", build, account, label, tables=RISK_TABLES)
