"""Plotly figures of the News & sentiment page (presentation only; data comes from core.news.query)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.news.calendar import CalendarEventView
from core.news.models import CalendarImportance
from core.timeutil import VIENNA


def sentiment_price_figure(
    frame: pd.DataFrame, symbol: str, events: Sequence[CalendarEventView] = (), *, height: int = 620
) -> go.Figure:
    """Return price, sentiment and mention volume on one shared (Vienna-time) axis, events as markers."""
    times = frame.index.tz_convert(VIENNA) if len(frame) else frame.index
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.45, 0.3, 0.25],
        subplot_titles=(f"{symbol} close", "Sentiment (mean and influence-weighted)", "Mentions"),
    )
    figure.add_trace(
        go.Scatter(x=times, y=frame["close"], name="Close", mode="lines", line={"color": "#1f77b4"}), row=1, col=1
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=frame["mean_sentiment"],
            name="Mean sentiment",
            mode="lines+markers",
            line={"color": "#c0c0c0", "width": 1, "dash": "dot"},
            marker={"size": 4},
            connectgaps=False,
        ),
        row=2,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=times,
            y=frame["weighted_sentiment"],
            name="Influence-weighted",
            mode="lines+markers",
            line={"color": "#2ca02c", "width": 2},
            marker={"size": 3},
            connectgaps=False,
        ),
        row=2,
        col=1,
    )
    figure.add_hline(y=0, line={"color": "#bbbbbb", "dash": "dot"}, row=2, col=1)
    colors = ["#2ca02c" if (value or 0) >= 0 else "#d62728" for value in frame["weighted_sentiment"].fillna(0)]
    figure.add_trace(go.Bar(x=times, y=frame["mentions"], name="Mentions", marker={"color": colors}), row=3, col=1)
    by_day: dict[object, list[CalendarEventView]] = {}
    for event in events:
        if event.importance is CalendarImportance.HIGH:
            by_day.setdefault(pd.Timestamp(event.time).tz_convert(VIENNA).date(), []).append(event)
    for day_events in by_day.values():
        when = pd.Timestamp(day_events[0].time).tz_convert(VIENNA)
        label = " / ".join(event.title for event in day_events)
        figure.add_vline(x=when, line={"color": "#ff7f0e", "width": 1, "dash": "dash"})
        figure.add_annotation(
            x=when,
            y=1.0,
            yref="paper",
            text=label[:40] + ("…" if len(label) > 40 else ""),
            showarrow=False,
            textangle=-90,
            xanchor="right",
            yanchor="top",
            font={"size": 9, "color": "#ff7f0e"},
            hovertext=label,
        )
    figure.update_yaxes(range=[-1, 1], row=2, col=1)
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "x": 0},
    )
    return figure
