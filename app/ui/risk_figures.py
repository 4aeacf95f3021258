"""Plotly figures of the Risk page: drawdown, return distribution with VaR lines, exposure."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.risk.service import ExposureRow
from core.timeutil import to_vienna

DOWN = "#ef5350"
ACCENT = "#4f8cff"
AMBER = "#f5a623"
GRID = "rgba(139,147,167,0.15)"


def _style(figure: go.Figure, *, height: int) -> go.Figure:
    figure.update_layout(
        template="plotly_dark",
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
    """Area chart of the drawdown below the running peak (in %), Vienna time."""
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
