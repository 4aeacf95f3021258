"""Plotly figures of the dashboard (dark, compact), built from the core services' results.

Times on every axis are Europe/Vienna. Money arrives as ``Decimal`` and becomes float only here,
for drawing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as plotly_io
from plotly.subplots import make_subplots

from core.analysis.indicators import IndicatorKind, IndicatorSpec
from core.analysis.levels import LevelKind
from core.charts.data import ChartData
from core.execution.enums import OrderSide
from core.market.query import TIMEFRAME_SECONDS
from core.portfolio.valuation import AllocationSlice, EquityPoint
from core.timeutil import VIENNA

UP = "#26a69a"
DOWN = "#ef5350"
ACCENT = "#4f8cff"
MUTED = "#8b93a7"
GRID = "rgba(139,147,167,0.15)"
PALETTE = ["#4f8cff", "#f5a623", "#26a69a", "#ab47bc", "#ef5350", "#29b6f6", "#d4e157", "#8d6e63"]
OVERLAY_COLOURS = {"sma": "#f5a623", "ema": "#ab47bc", "bb": "#29b6f6"}
# Streamlit's chart theme styles the figures in the browser (dark, from .streamlit/config.toml);
# no server-side Plotly template, whose first load costs about half a second.
plotly_io.templates.default = "none"


EVENT_COLOUR = "#c084fc"


def _style(figure: go.Figure, *, height: int, legend: bool = True) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"size": 12},
        showlegend=legend,
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.0,
            "xanchor": "left",
            "x": 0,
            "bgcolor": "rgba(0,0,0,0)",
        },
        hovermode="x unified",
    )
    figure.update_xaxes(gridcolor=GRID, zeroline=False, showspikes=True, spikecolor=MUTED, spikethickness=1)
    figure.update_yaxes(gridcolor=GRID, zeroline=False)
    return figure


def _vienna_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert(VIENNA).tz_localize(None)


def equity_figure(points: Sequence[EquityPoint], *, height: int = 320) -> go.Figure:
    """Return the equity curve (equity area, cash line)."""
    times = _vienna_index(pd.DatetimeIndex([point.ts for point in points]))
    equity = [float(point.equity_eur) for point in points]
    cash = [float(point.cash_eur) for point in points]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=times,
            y=equity,
            name="Equity",
            mode="lines",
            line={"color": ACCENT, "width": 2},
            fill="tozeroy",
            fillcolor="rgba(79,140,255,0.12)",
            hovertemplate="€ %{y:,.2f}",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=cash,
            name="Cash",
            mode="lines",
            line={"color": MUTED, "width": 1, "dash": "dot"},
            hovertemplate="€ %{y:,.2f}",
        )
    )
    if equity:
        low, high = min(min(equity), min(cash)), max(equity)
        pad = (high - low) * 0.08 or high * 0.05
        figure.update_yaxes(range=[max(0.0, low - pad), high + pad], tickprefix="€ ", tickformat=",.0f")
    return _style(figure, height=height)


def allocation_figure(slices: Sequence[AllocationSlice], *, height: int = 320) -> go.Figure:
    """Return the allocation donut (share of equity per asset and cash)."""
    figure = go.Figure(
        go.Pie(
            labels=[item.label for item in slices],
            values=[float(item.value_eur) for item in slices],
            hole=0.62,
            sort=False,
            marker={"colors": PALETTE[: len(slices)], "line": {"color": "#0e1117", "width": 2}},
            textinfo="percent",
            hovertemplate="%{label}<br>€ %{value:,.2f}<br>%{percent}<extra></extra>",
        )
    )
    total = sum(float(item.value_eur) for item in slices)
    figure.add_annotation(text=f"€ {total:,.0f}", showarrow=False, font={"size": 16})
    figure = _style(figure, height=height)
    figure.update_layout(legend={"orientation": "v", "y": 0.5, "yanchor": "middle", "x": 1.02}, hovermode=False)
    return figure


def _panel_kinds(specs: Sequence[IndicatorSpec]) -> list[IndicatorKind]:
    order = [IndicatorKind.RSI, IndicatorKind.MACD, IndicatorKind.ATR]
    kinds = {spec.kind for spec in specs}
    return [kind for kind in order if kind in kinds]


def candlestick_figure(
    data: ChartData,
    specs: Sequence[IndicatorSpec],
    *,
    show_volume: bool = True,
    show_levels: bool = True,
    show_trades: bool = True,
    show_events: bool = True,
    asset_class: str = "crypto",
) -> go.Figure:
    """Return candlesticks with volume, overlays, lower indicator panels, levels and trade markers."""
    panels = _panel_kinds(specs)
    rows = 1 + int(show_volume) + len(panels)
    heights = [0.62] + ([0.12] if show_volume else []) + [0.16] * len(panels)
    titles = [""] + ([""] if show_volume else []) + [_panel_title(kind, specs) for kind in panels]
    figure = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.025, row_heights=heights, subplot_titles=titles
    )
    candles = data.candles
    times = _vienna_index(pd.DatetimeIndex(candles.index))
    figure.add_trace(
        go.Candlestick(
            x=times,
            open=candles["open"].to_numpy(),
            high=candles["high"].to_numpy(),
            low=candles["low"].to_numpy(),
            close=candles["close"].to_numpy(),
            name=data.symbol,
            increasing_line_color=UP,
            decreasing_line_color=DOWN,
            increasing_fillcolor=UP,
            decreasing_fillcolor=DOWN,
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    indicators = data.indicators
    shapes: list[dict[str, object]] = []
    labels: list[dict[str, object]] = []
    for spec in specs:
        if spec.kind is IndicatorKind.SMA and f"sma_{spec.length}" in indicators:
            _line(figure, times, indicators[f"sma_{spec.length}"], f"SMA {spec.length}", OVERLAY_COLOURS["sma"])
        elif spec.kind is IndicatorKind.EMA and f"ema_{spec.length}" in indicators:
            _line(figure, times, indicators[f"ema_{spec.length}"], f"EMA {spec.length}", OVERLAY_COLOURS["ema"])
        elif spec.kind is IndicatorKind.BBANDS and "bb_upper" in indicators:
            colour = OVERLAY_COLOURS["bb"]
            _line(figure, times, indicators["bb_upper"], f"BB {spec.length} upper", colour, dash="dot")
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=indicators["bb_lower"].to_numpy(),
                    name=f"BB {spec.length} lower",
                    mode="lines",
                    line={"color": colour, "width": 1, "dash": "dot"},
                    fill="tonexty",
                    fillcolor="rgba(41,182,246,0.06)",
                ),
                row=1,
                col=1,
            )
            _line(figure, times, indicators["bb_middle"], f"BB {spec.length} mid", colour, width=0.8)
    if show_levels:
        for level in data.levels:
            colour = UP if level.kind is LevelKind.SUPPORT else DOWN
            tag = "S" if level.kind is LevelKind.SUPPORT else "R"
            shapes.append(_hline(1, level.price, colour, "dash", opacity=0.7))
            text = f"{tag} {level.price:,.2f} ({level.touches}×)"
            labels.append(
                {
                    "xref": "x domain",
                    "yref": "y",
                    "x": 1,
                    "y": level.price,
                    "xanchor": "right",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "text": text,
                    "font": {"size": 10, "color": colour},
                }
            )
    if show_trades and data.trades:
        for side, symbol, colour in ((OrderSide.BUY, "triangle-up", UP), (OrderSide.SELL, "triangle-down", DOWN)):
            trades = [trade for trade in data.trades if trade.side is side]
            if not trades:
                continue
            figure.add_trace(
                go.Scatter(
                    x=_vienna_index(pd.DatetimeIndex([trade.ts for trade in trades])),
                    y=[float(trade.price_eur) for trade in trades],
                    mode="markers",
                    name=f"My {side.value}s",
                    marker={"symbol": symbol, "size": 13, "color": colour, "line": {"color": "#ffffff", "width": 1}},
                    customdata=[[float(trade.quantity), float(trade.value_eur), trade.account] for trade in trades],
                    hovertemplate=(
                        f"{side.value.upper()} %{{customdata[0]:,.6g}} @ € %{{y:,.2f}}"
                        "<br>€ %{customdata[1]:,.2f} · %{customdata[2]}<extra></extra>"
                    ),
                ),
                row=1,
                col=1,
            )
    if show_events and data.events and not candles.empty:
        event_times = _vienna_index(pd.DatetimeIndex([event.time for event in data.events]))
        for event_time in event_times:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "y domain",
                    "x0": event_time,
                    "x1": event_time,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": EVENT_COLOUR, "width": 1, "dash": "dot"},
                    "opacity": 0.6,
                }
            )
        figure.add_trace(
            go.Scatter(
                x=event_times,
                y=[float(candles["high"].max())] * len(event_times),
                mode="markers",
                name="Economic events",
                marker={"symbol": "diamond", "size": 9, "color": EVENT_COLOUR},
                customdata=[[f"{event.title} ({event.country}, {event.importance.value})"] for event in data.events],
                hovertemplate="%{customdata[0]}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    row = 2
    if show_volume:
        rising = (candles["close"] >= candles["open"]).to_numpy()
        volume = candles["volume"].to_numpy()
        for mask, colour in ((rising, UP), (~rising, DOWN)):  # one colour per trace: no per-bar colour list
            figure.add_trace(
                go.Bar(
                    x=times[mask],
                    y=volume[mask],
                    marker_color=colour,
                    opacity=0.55,
                    name="Volume",
                    showlegend=False,
                    hovertemplate="Vol %{y:,.4g}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        figure.update_yaxes(title_text="Vol", row=row, col=1, tickformat="~s")
        row += 1
    for kind in panels:
        _panel(figure, kind, specs, indicators, times, row, shapes)
        row += 1
    figure = _style(figure, height=520 + 150 * len(panels) + (90 if show_volume else 0))
    figure.update_layout(
        xaxis_rangeslider_visible=False,
        hovermode="x",
        shapes=shapes,
        annotations=[*figure.layout.annotations, *labels],
    )
    figure.update_yaxes(tickformat=",.2f", row=1, col=1)
    breaks = _range_breaks(times, data.timeframe, asset_class)
    if breaks:
        figure.update_xaxes(rangebreaks=breaks)
    figure.update_annotations(font_size=11, selector={"text": ""})
    return figure


def _panel_title(kind: IndicatorKind, specs: Sequence[IndicatorSpec]) -> str:
    spec = next(spec for spec in specs if spec.kind is kind)
    return spec.label


def _line(
    figure: go.Figure,
    times: pd.DatetimeIndex,
    values: pd.Series,
    name: str,
    colour: str,
    *,
    dash: str | None = None,
    width: float = 1.3,
    row: int = 1,
) -> None:
    figure.add_trace(
        go.Scatter(
            x=times, y=values.to_numpy(), name=name, mode="lines", line={"color": colour, "width": width, "dash": dash}
        ),
        row=row,
        col=1,
    )


def _hline(row: int, y: float, colour: str, dash: str, *, opacity: float = 1.0) -> dict[str, object]:
    """A horizontal line across subplot ``row`` (one shape dict: far cheaper than ``add_hline``)."""
    suffix = "" if row == 1 else str(row)
    return {
        "type": "line",
        "xref": f"x{suffix} domain",
        "yref": f"y{suffix}",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": colour, "width": 1, "dash": dash},
        "opacity": opacity,
    }


def _panel(
    figure: go.Figure,
    kind: IndicatorKind,
    specs: Sequence[IndicatorSpec],
    indicators: pd.DataFrame,
    times: pd.DatetimeIndex,
    row: int,
    shapes: list[dict[str, object]],
) -> None:
    spec = next(spec for spec in specs if spec.kind is kind)
    if kind is IndicatorKind.RSI:
        _line(figure, times, indicators[f"rsi_{spec.length}"], spec.label, "#26c6da", row=row)
        for level in (30, 70):
            shapes.append(_hline(row, level, MUTED, "dot"))
        figure.update_yaxes(range=[0, 100], tickvals=[30, 50, 70], row=row, col=1)
    elif kind is IndicatorKind.MACD:
        histogram = indicators["macd_histogram"].to_numpy()
        positive = histogram >= 0
        for mask, colour in ((positive, UP), (~positive, DOWN)):
            figure.add_trace(
                go.Bar(
                    x=times[mask],
                    y=histogram[mask],
                    name="MACD hist",
                    showlegend=False,
                    marker_color=colour,
                    opacity=0.6,
                ),
                row=row,
                col=1,
            )
        _line(figure, times, indicators["macd"], "MACD", ACCENT, row=row)
        _line(figure, times, indicators["macd_signal"], "Signal", "#f5a623", row=row)
    elif kind is IndicatorKind.ATR:
        _line(figure, times, indicators[f"atr_{spec.length}"], spec.label, "#9ccc65", row=row)


def _range_breaks(times: pd.DatetimeIndex, timeframe: str, asset_class: str) -> list[dict[str, object]]:
    """Hide the hours without trading (nights, weekends) of non-crypto instruments."""
    if asset_class == "crypto" or len(times) < 2:
        return []
    if timeframe == "1d":
        return [{"bounds": ["sat", "mon"]}]
    step = pd.Timedelta(seconds=TIMEFRAME_SECONDS[timeframe])
    grid = pd.date_range(times[0], times[-1], freq=step)
    missing = grid.difference(times)
    if missing.empty:
        return []
    return [{"values": [value.isoformat() for value in missing], "dvalue": int(step.total_seconds() * 1000)}]
