"""The JSON the price chart component draws: candles, indicator panes, price lines and markers.

Built from :class:`core.charts.data.ChartData` and the engine's overlays; plain lists and
numbers only, so any chart front end can read it. Times are UTC epoch seconds (the component
formats them in Europe/Vienna); ``None`` marks an indicator value that does not exist yet.
Markers sit on the open time of the bar they fall into, because the chart places markers on
bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.ai.models import Signal
from core.analysis.indicators import OVERLAY_KINDS, IndicatorKind, IndicatorSpec
from core.analysis.levels import LevelKind
from core.analysis.patterns import Pattern, PatternBias
from core.charts.data import ChartData
from core.charts.overlays import ChartOverlays
from core.execution.enums import OrderSide
from core.timeutil import to_vienna

UP = "#26a69a"
DOWN = "#ef5350"
NEUTRAL = "#8b93a7"
ACCENT = "#4f8cff"
ORANGE = "#f5a623"
EVENT = "#c084fc"
OVERLAY_COLOURS = {"sma": ORANGE, "ema": "#ab47bc", "bb": "#29b6f6"}
SIGNAL_COLOURS = {Signal.BUY: UP, Signal.SELL: DOWN, Signal.HOLD: NEUTRAL}
BIAS_COLOURS = {PatternBias.BULLISH: UP, PatternBias.BEARISH: DOWN, PatternBias.NEUTRAL: NEUTRAL}
MAX_CHART_PATTERN_MARKERS = 20
MAX_CANDLE_PATTERN_MARKERS = 15
MAX_BREAKOUT_LINES = 3


@dataclass(frozen=True)
class ChartLayers:
    """Which layers to draw."""

    volume: bool = True
    levels: bool = True
    trades: bool = True
    events: bool = True
    orders: bool = True
    consensus: bool = True
    patterns: bool = True


def _numbers(values: Any) -> list[float | None]:
    array = np.asarray(values, dtype=float)
    return [None if not math.isfinite(value) else float(value) for value in array.tolist()]


def _epochs(index: pd.DatetimeIndex) -> list[int]:
    return index.as_unit("s").asi8.astype("int64").tolist() if len(index) else []


def bar_time(times: np.ndarray, when: datetime | pd.Timestamp) -> int | None:
    """Return the open time (epoch s) of the bar containing ``when``, or None outside the bars."""
    if times.size == 0:
        return None
    moment = int(pd.Timestamp(when).timestamp())
    position = int(np.searchsorted(times, moment, side="right")) - 1
    if position < 0:
        return None
    return int(times[position])


def _indicator_layers(data: ChartData, specs: Sequence[IndicatorSpec]) -> tuple[list[dict], list[dict]]:
    overlays: list[dict[str, Any]] = []
    panes: list[dict[str, Any]] = []
    columns = data.indicators
    for spec in specs:
        if spec.kind in OVERLAY_KINDS:
            if spec.kind is IndicatorKind.BBANDS:
                for name in ("bb_upper", "bb_middle", "bb_lower"):
                    if name in columns:
                        overlays.append(
                            {
                                "name": f"{spec.label} {name.removeprefix('bb_')}",
                                "color": OVERLAY_COLOURS["bb"],
                                "values": _numbers(columns[name]),
                            }
                        )
            else:
                name = f"{spec.kind.value}_{spec.length}"
                if name in columns:
                    overlays.append(
                        {
                            "name": spec.label,
                            "color": OVERLAY_COLOURS[spec.kind.value],
                            "values": _numbers(columns[name]),
                        }
                    )
        elif spec.kind is IndicatorKind.MACD and "macd" in columns:
            panes.append(
                {
                    "id": "macd",
                    "title": spec.label,
                    "series": [
                        {
                            "name": "MACD histogram",
                            "kind": "histogram",
                            "color": NEUTRAL,
                            "values": _numbers(columns["macd_histogram"]),
                        },
                        {"name": "MACD", "kind": "line", "color": ACCENT, "values": _numbers(columns["macd"])},
                        {"name": "Signal", "kind": "line", "color": ORANGE, "values": _numbers(columns["macd_signal"])},
                    ],
                }
            )
        else:
            name = f"{spec.kind.value}_{spec.length}"
            if name in columns:
                panes.append(
                    {
                        "id": name,
                        "title": spec.label,
                        "series": [
                            {
                                "name": spec.label,
                                "kind": "line",
                                "color": "#ab47bc" if spec.kind is IndicatorKind.RSI else ORANGE,
                                "values": _numbers(columns[name]),
                            }
                        ],
                    }
                )
    return overlays, panes


def _price_lines(
    data: ChartData, overlays: ChartOverlays | None, patterns: Sequence[Pattern], layers: ChartLayers
) -> list[dict]:
    lines: list[dict[str, Any]] = []
    if layers.levels:
        for level in data.levels:
            support = level.kind is LevelKind.SUPPORT
            lines.append(
                {
                    "price": float(level.price),
                    "title": f"{'S' if support else 'R'} ×{level.touches}",
                    "color": UP if support else DOWN,
                    "style": "dotted",
                    "kind": level.kind.value,
                }
            )
    if layers.orders and overlays is not None:
        for order in overlays.orders:
            lines.append(
                {
                    "price": float(order.price),
                    "color": ACCENT if order.kind == "limit" else ORANGE,
                    "title": f"{order.side.value} {order.kind} #{order.order_id}",
                    "style": "dashed",
                    "kind": f"order_{order.kind}",
                }
            )
        titles = {
            "stop_loss": ("SL", DOWN, "solid"),
            "take_profit": ("TP", UP, "solid"),
            "trailing_stop": ("Trail", ORANGE, "dashed"),
        }
        for exit_level in overlays.exits:
            title, colour, style = titles[exit_level.kind]
            lines.append(
                {
                    "price": float(exit_level.price),
                    "color": colour,
                    "style": style,
                    "title": f"{title} #{exit_level.plan_id}",
                    "kind": exit_level.kind,
                }
            )
    if layers.patterns:
        pending = [
            item for item in patterns if not item.is_candlestick and item.breakout is not None and not item.confirmed
        ]
        for pattern in pending[-MAX_BREAKOUT_LINES:]:
            lines.append(
                {
                    "price": float(pattern.breakout or 0.0),
                    "color": BIAS_COLOURS[pattern.bias],
                    "style": "dashed",
                    "title": f"{pattern.kind.label} breakout",
                    "kind": "pattern_breakout",
                }
            )
    return lines


def _markers(
    data: ChartData, overlays: ChartOverlays | None, patterns: Sequence[Pattern], times: np.ndarray, layers: ChartLayers
) -> list[dict]:
    markers: list[dict[str, Any]] = []

    def add(when: datetime | pd.Timestamp, **marker: Any) -> None:
        time = bar_time(times, when)
        if time is not None:
            markers.append({"time": time, **marker})

    if layers.trades:
        for trade in data.trades:
            buy = trade.side is OrderSide.BUY
            add(
                trade.ts,
                position="belowBar" if buy else "aboveBar",
                shape="arrowUp" if buy else "arrowDown",
                color=UP if buy else DOWN,
                text="B" if buy else "S",
                kind="fill",
                tooltip=f"{'Bought' if buy else 'Sold'} {trade.quantity.normalize():f} at € {trade.price_eur:,.2f} "
                f"(€ {trade.value_eur:,.2f}, {trade.account}) · {to_vienna(trade.ts):%Y-%m-%d %H:%M}",
            )
    if layers.consensus and overlays is not None:
        for decision in overlays.consensus:
            # as_of is the close of the newest candle the analysts saw: mark that candle.
            seen = decision.as_of - pd.Timedelta(seconds=1)
            add(
                seen,
                position="aboveBar" if decision.decision is Signal.SELL else "belowBar",
                shape="circle",
                color=SIGNAL_COLOURS[decision.decision],
                kind="consensus",
                text="" if decision.decision is Signal.HOLD else f"AI {decision.decision.value}",
                tooltip=f"AI consensus {decision.decision.value.upper()} · score {decision.score:+.2f} · "
                f"agreement {decision.agreement * 100:.0f} % · {decision.valid_opinions} analysts"
                + (" · flagged" if decision.flagged else ""),
            )
    if layers.patterns:
        chart_found = [item for item in patterns if not item.is_candlestick][-MAX_CHART_PATTERN_MARKERS:]
        candles_found = [item for item in patterns if item.is_candlestick][-MAX_CANDLE_PATTERN_MARKERS:]
        for pattern in chart_found + candles_found:
            bearish = pattern.bias is PatternBias.BEARISH
            add(
                pattern.end,
                position="aboveBar" if bearish else "belowBar",
                shape="square",
                color=BIAS_COLOURS[pattern.bias],
                text=pattern.kind.label if not pattern.is_candlestick else "",
                kind="pattern",
                tooltip=pattern.describe(),
            )
    if layers.events:
        for event in data.events:
            add(
                event.time,
                position="aboveBar",
                shape="circle",
                color=EVENT,
                text="E",
                kind="event",
                tooltip=f"{event.country} · {event.title} · {to_vienna(event.time):%Y-%m-%d %H:%M}",
            )
    return markers


def chart_payload(
    data: ChartData,
    specs: Sequence[IndicatorSpec],
    *,
    overlays: ChartOverlays | None = None,
    patterns: Sequence[Pattern] = (),
    layers: ChartLayers | None = None,
    theme: str = "dark",
    height: int = 560,
    has_more_before: bool = False,
    initial_bars: int = 150,
) -> dict[str, Any]:
    """Return the component's data for one chart."""
    chosen = layers or ChartLayers()
    frame = data.candles
    times = np.asarray(_epochs(pd.DatetimeIndex(frame.index)), dtype="int64")
    indicator_overlays, panes = _indicator_layers(data, specs)
    return {
        "series_id": f"{data.instrument_id}|{data.timeframe}|{data.source}",
        "symbol": data.symbol,
        "timeframe": data.timeframe,
        "theme": "light" if theme == "light" else "dark",
        "height": height,
        "time_zone": "Europe/Vienna",
        "show_volume": chosen.volume,
        "initial_bars": initial_bars,
        "has_more_before": has_more_before,
        "candles": {
            "t": times.tolist(),
            "o": _numbers(frame["open"]),
            "h": _numbers(frame["high"]),
            "l": _numbers(frame["low"]),
            "c": _numbers(frame["close"]),
            "v": _numbers(frame["volume"]),
        },
        "overlays": indicator_overlays,
        "panes": panes,
        "price_lines": _price_lines(data, overlays, patterns, chosen),
        "markers": _markers(data, overlays, patterns, times, chosen),
    }


def candles_payload(
    series_id: str,
    frame: pd.DataFrame,
    *,
    markers: Sequence[tuple[datetime | pd.Timestamp, dict[str, Any]]] = (),
    price_lines: Sequence[dict[str, Any]] = (),
    theme: str = "dark",
    height: int = 420,
    show_volume: bool = True,
) -> dict[str, Any]:
    """Return the component's data for plain candles (float OHLCV frame on a UTC index) and markers.

    Each marker is ``(time, {"position", "shape", "color", "text", "tooltip", "kind"})``; it is
    placed on the bar containing its time (dropped outside the bars).
    """
    times = np.asarray(_epochs(pd.DatetimeIndex(frame.index)), dtype="int64")
    placed = []
    for when, marker in markers:
        time = bar_time(times, when)
        if time is not None:
            placed.append({"time": time, **marker})
    return {
        "series_id": series_id,
        "theme": "light" if theme == "light" else "dark",
        "height": height,
        "time_zone": "Europe/Vienna",
        "show_volume": show_volume,
        "initial_bars": len(times),
        "has_more_before": False,
        "candles": {
            "t": times.tolist(),
            "o": _numbers(frame["open"]),
            "h": _numbers(frame["high"]),
            "l": _numbers(frame["low"]),
            "c": _numbers(frame["close"]),
            "v": _numbers(frame["volume"]),
        },
        "overlays": [],
        "panes": [],
        "price_lines": list(price_lines),
        "markers": placed,
    }
