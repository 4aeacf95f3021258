"""Plotly figures of the backtest page: equity and drawdown vs buy-and-hold, trades on the price, heatmap."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.ui.downsample import extremes, thin
from core.backtest.results import drawdown_of
from core.charts.payload import candles_payload
from core.timeutil import VIENNA

STRATEGY_COLOUR = "#1f77b4"
BASELINE_COLOUR = "#999999"


def _vienna(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert(VIENNA).tz_localize(None)


def equity_figure(equity: pd.DataFrame, initial_cash: float | None = None) -> go.Figure:
    """Equity of the strategy and of buy-and-hold (top) and both drawdowns (bottom).

    ``initial_cash`` (the cash before the first bar) makes the drawdowns count the first bar, as
    the max-drawdown metric does. Each line is thinned to its extremes per screen bucket
    (``app/ui/downsample.py``): the peaks and the deepest drawdowns stay, at most ~1,600 points a line.
    """
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.04)
    times = _vienna(pd.DatetimeIndex(equity.index))
    for column, name, colour in (("equity", "Strategy", STRATEGY_COLOUR), ("baseline", "Buy & hold", BASELINE_COLOUR)):
        values = equity[column]
        drawdown = drawdown_of(values, initial_cash).to_numpy(dtype=float) * 100  # of every point, then thinned
        shown = extremes(values)
        figure.add_trace(
            go.Scatter(x=times[shown], y=values.to_numpy()[shown], name=name, line={"color": colour, "width": 1.6}),
            row=1,
            col=1,
        )
        deepest = extremes(drawdown)
        figure.add_trace(
            go.Scatter(
                x=times[deepest],
                y=drawdown[deepest],
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


def trades_payload(
    series_id: str, prices: pd.DataFrame, trades: pd.DataFrame, *, theme: str = "dark"
) -> dict[str, Any]:
    """The run's candles with each entry (▲) and exit (▼) as TradingView chart markers."""
    markers: list[tuple[pd.Timestamp, dict[str, Any]]] = []
    for row in trades.itertuples(index=False):
        entry = pd.Timestamp(row.entry_at)
        entry = entry.tz_localize("UTC") if entry.tzinfo is None else entry
        buy = str(getattr(row, "side", "buy")).endswith("buy")
        entry_marker = {
            "position": "belowBar" if buy else "aboveBar",
            "shape": "arrowUp" if buy else "arrowDown",
            "color": "#26a69a" if buy else "#ef5350",
            "text": "in",
            "kind": "entry",
            "tooltip": f"Entry at {float(row.entry_price):,.2f}",
        }
        markers.append((entry, entry_marker))
        if pd.notna(row.exit_at):
            exit_at = pd.Timestamp(row.exit_at)
            exit_at = exit_at.tz_localize("UTC") if exit_at.tzinfo is None else exit_at
            markers.append(
                (
                    exit_at,
                    {
                        "position": "aboveBar" if buy else "belowBar",
                        "shape": "arrowDown" if buy else "arrowUp",
                        "color": "#f5a623",
                        "text": "out",
                        "kind": "exit",
                        "tooltip": f"Exit at {float(row.exit_price):,.2f} ({row.exit_reason or 'signal'})",
                    },
                )
            )
    return candles_payload(series_id, prices, markers=markers, theme=theme)


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
    figure.update_layout(
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
    )
    return figure


def comparison_figure(curves: dict[str, pd.Series]) -> go.Figure:
    """Several stored equity curves, each scaled to start at 100 (thinned to its extremes per screen bucket)."""
    figure = go.Figure()
    for label, values in curves.items():
        if values.empty:
            continue
        scaled = thin(values / values.iloc[0] * 100)
        figure.add_trace(go.Scatter(x=_vienna(pd.DatetimeIndex(scaled.index)), y=scaled, name=label))
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="Equity (start = 100)")
    return figure
