"""Plotly figures of the backtest page: equity and drawdown vs buy-and-hold, trades on the price, heatmap."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.backtest.results import drawdown_of
from core.timeutil import VIENNA

STRATEGY_COLOUR = "#1f77b4"
BASELINE_COLOUR = "#999999"


def _vienna(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert(VIENNA).tz_localize(None)


def equity_figure(equity: pd.DataFrame, initial_cash: float | None = None) -> go.Figure:
    """Equity of the strategy and of buy-and-hold (top) and both drawdowns (bottom).

    ``initial_cash`` (the cash before the first bar) makes the drawdowns count the first bar, as
    the max-drawdown metric does.
    """
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.04)
    times = _vienna(pd.DatetimeIndex(equity.index))
    for column, name, colour in (("equity", "Strategy", STRATEGY_COLOUR), ("baseline", "Buy & hold", BASELINE_COLOUR)):
        values = equity[column]
        drawdown = drawdown_of(values, initial_cash)
        figure.add_trace(go.Scatter(x=times, y=values, name=name, line={"color": colour, "width": 1.6}), row=1, col=1)
        figure.add_trace(
            go.Scatter(
                x=times,
                y=drawdown * 100,
                name=f"{name} drawdown",
                line={"color": colour, "width": 1},
                fill="tozeroy",
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    figure.update_yaxes(title_text="Equity", row=1, col=1)
    figure.update_yaxes(title_text="Drawdown %", row=2, col=1)
    figure.update_layout(
        height=460, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.08}
    )
    return figure


def trades_figure(prices: pd.DataFrame, trades: pd.DataFrame, title: str) -> go.Figure:
    """The close price with each entry (▲) and exit (▼) of the run."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=_vienna(pd.DatetimeIndex(prices.index)),
            y=prices["close"],
            name="Close",
            line={"color": "#444444", "width": 1},
        )
    )
    if not trades.empty:
        entries = pd.DatetimeIndex(pd.to_datetime(trades["entry_at"], utc=True))
        figure.add_trace(
            go.Scatter(
                x=_vienna(entries),
                y=trades["entry_price"],
                mode="markers",
                name="Entry",
                marker={"symbol": "triangle-up", "size": 10, "color": "#2ca02c"},
            )
        )
        closed = trades[trades["exit_at"].notna()]
        if not closed.empty:
            exits = pd.DatetimeIndex(pd.to_datetime(closed["exit_at"], utc=True))
            figure.add_trace(
                go.Scatter(
                    x=_vienna(exits),
                    y=closed["exit_price"],
                    mode="markers",
                    name="Exit",
                    marker={"symbol": "triangle-down", "size": 10, "color": "#d62728"},
                    text=closed["exit_reason"],
                )
            )
    figure.update_layout(
        title={"text": title, "y": 0.98},
        height=400,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return figure


def heatmap_figure(table: pd.DataFrame, x: str, y: str, metric: str) -> go.Figure:
    """A two-parameter heatmap of ``metric`` (rows ``y``, columns ``x``)."""
    figure = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[str(value) for value in table.columns],
            y=[str(value) for value in table.index],
            colorscale="RdYlGn",
            colorbar={"title": metric},
            text=[[("" if pd.isna(value) else f"{value:.2f}") for value in row] for row in table.to_numpy()],
            texttemplate="%{text}",
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.3f}}<extra></extra>",
        )
    )
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         xaxis={"title": x, "type": "category"}, yaxis={"title": y, "type": "category"})  # fmt: skip
    return figure


def comparison_figure(curves: dict[str, pd.Series]) -> go.Figure:
    """Several stored equity curves, each scaled to start at 100."""
    figure = go.Figure()
    for label, values in curves.items():
        if values.empty:
            continue
        scaled = values / values.iloc[0] * 100
        figure.add_trace(go.Scatter(x=_vienna(pd.DatetimeIndex(values.index)), y=scaled, name=label))
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="Equity (start = 100)")
    return figure
