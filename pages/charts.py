"""Charts: TradingView chart with volume, indicator panes, levels, patterns, own trades, orders and AI signals."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.ui.components.lwchart import price_chart
from app.ui.context import page_setup, read
from app.ui.format import eur, pct, vienna_time
from app.ui.market_panels import asset_panel, macro_panel
from core.analysis.indicators import DEFAULT_LENGTHS, IndicatorKind, IndicatorSpec
from core.charts.data import CHART_TIMEFRAMES, RANGES, chart_data, chart_instruments
from core.charts.overlays import chart_overlays
from core.charts.payload import ChartLayers, chart_payload
from core.market.freshness import trading_interval
from core.market.query import TIMEFRAME_SECONDS
from core.system.status import stale_since

INDICATOR_NAMES = {
    "SMA": IndicatorKind.SMA,
    "EMA": IndicatorKind.EMA,
    "Bollinger Bands": IndicatorKind.BBANDS,
    "RSI": IndicatorKind.RSI,
    "MACD": IndicatorKind.MACD,
    "ATR": IndicatorKind.ATR,
}
DEFAULT_RANGE = {"1h": "1M", "4h": "3M", "1d": "1Y"}
REFRESH_CHOICES = {"Off": None, "5 s": 5, "10 s": 10, "30 s": 30}
PAGES_KEY = "chart_history_pages"
CHART_KEY = "price_chart"

page_setup("Charts", ":material/candlestick_chart:")

instruments = read(
    lambda session: [(item.id, item.symbol, item.name, item.asset_class.value) for item in chart_instruments(session)]
)
if not instruments:
    st.info("No instruments yet. Add one in Settings or run `konsens demo` for demo data.")
    st.stop()
by_id = {item[0]: item for item in instruments}

controls = st.columns([1.1, 0.9, 2.0, 2.2])
instrument_id = controls[0].selectbox(
    "Instrument", list(by_id), format_func=lambda key: by_id[key][1], key="chart_instrument"
)
timeframe = controls[1].segmented_control("Timeframe", CHART_TIMEFRAMES, default="4h", key="chart_timeframe") or "4h"
range_name = (
    controls[2].segmented_control("Range", list(RANGES), default=DEFAULT_RANGE[timeframe], key="chart_range")
    or DEFAULT_RANGE[timeframe]
)
chosen = controls[3].multiselect(
    "Indicators", list(INDICATOR_NAMES), default=["SMA", "EMA", "RSI"], key="chart_indicators"
)
with st.expander("Chart options", icon=":material/tune:"):
    option_columns = st.columns(6)
    lengths: dict[IndicatorKind, int] = {
        kind: option_columns[index].number_input(
            f"{name} length", min_value=2, max_value=400, value=DEFAULT_LENGTHS[kind], key=f"length_{kind.value}"
        )
        for index, (name, kind) in enumerate(INDICATOR_NAMES.items())
        if kind is not IndicatorKind.MACD
    }
    toggles = st.columns(4)
    layers = ChartLayers(
        volume=toggles[0].toggle("Volume", value=True, key="chart_volume"),
        levels=toggles[1].toggle("Support / resistance", value=True, key="chart_levels"),
        trades=toggles[2].toggle("My trades", value=True, key="chart_trades"),
        events=toggles[3].toggle("Economic events", value=True, key="chart_events"),
        orders=toggles[0].toggle("Orders and exits", value=True, key="chart_orders"),
        consensus=toggles[1].toggle("AI consensus", value=True, key="chart_consensus"),
        patterns=toggles[2].toggle("Patterns", value=True, key="chart_patterns"),
    )
    refresh_name = toggles[3].selectbox("Live refresh", list(REFRESH_CHOICES), index=2, key="chart_refresh")

specs = [IndicatorSpec(INDICATOR_NAMES[name], length=int(lengths.get(INDICATOR_NAMES[name], 26))) for name in chosen]
selection = (instrument_id, timeframe, range_name)
if st.session_state.get("chart_selection") != selection:
    st.session_state["chart_selection"] = selection
    st.session_state[PAGES_KEY] = 0


def _more_history() -> None:
    st.session_state[PAGES_KEY] = int(st.session_state.get(PAGES_KEY, 0)) + 1


refresh = REFRESH_CHOICES[refresh_name]


@st.fragment(run_every=timedelta(seconds=refresh) if refresh else None)
def live_chart() -> None:
    """The chart and its figures; re-run alone every ``refresh`` seconds, so the page never reloads."""
    pages = int(st.session_state.get(PAGES_KEY, 0))
    try:
        data = read(
            lambda session: chart_data(
                session,
                instrument_id,
                timeframe,
                range_name,
                indicators=specs,
                with_levels=layers.levels,
                with_patterns=layers.patterns,
                extra_pages=pages,
            )
        )
        overlays = read(lambda session: chart_overlays(session, instrument_id, start=data.start, end=data.end))
    except ValueError as error:
        st.error(str(error))
        return
    if data.candles.empty:
        st.info(" ".join(data.notes) or f"No candles for {data.symbol}.")
        return
    last = data.candles.iloc[-1]
    first_close = float(data.candles["close"].iloc[0])
    summary = st.columns(5)
    summary[0].metric(
        data.symbol,
        eur(last["close"]),
        pct(last["close"] / first_close - 1) if first_close else None,
        help=f"Last close; change over the shown range ({range_name}).",
    )
    summary[1].metric("Range high", eur(data.candles["high"].max()))
    summary[2].metric("Range low", eur(data.candles["low"].min()))
    summary[3].metric("Candles", f"{len(data.candles):,}")
    summary[4].metric("My trades in range", len(data.trades))
    base_seconds = TIMEFRAME_SECONDS.get(data.base_timeframe or timeframe, 3600)
    asset_class = by_id[instrument_id][3]
    base_interval = trading_interval(timedelta(seconds=base_seconds), asset_class)
    stale = stale_since(data.end, asset_class, expected_interval=base_interval)
    if stale is not None:
        st.badge(
            f"Stale since {vienna_time(stale)} (Vienna): no newer {data.base_timeframe} candle",
            icon=":material/schedule:",
            color="orange",
        )
    theme = st.context.theme.type or "dark"
    payload = chart_payload(
        data,
        specs,
        overlays=overlays,
        patterns=data.patterns,
        layers=layers,
        theme=theme,
        has_more_before=data.has_more_before,
    )
    price_chart(payload, key=CHART_KEY, on_history=_more_history)
    st.caption(
        f"{data.symbol} · {timeframe} · source {data.source} · {vienna_time(data.start)} – {vienna_time(data.end)} "
        "(Vienna time) · scroll to zoom, drag to pan, double-click to reset"
        + ("" if not data.notes else " · " + " ".join(data.notes))
    )
    details = st.columns(2)
    if data.levels:
        with details[0].expander(f"Support and resistance ({len(data.levels)})"):
            st.dataframe(
                [
                    {
                        "Kind": level.kind.value,
                        "Price": eur(level.price),
                        "Touches": level.touches,
                        "Strength": f"{level.strength:.2f}",
                        "Last touch": vienna_time(level.last_touch.to_pydatetime()),
                    }
                    for level in sorted(data.levels, key=lambda level: -level.price)
                ],
                hide_index=True,
                width="stretch",
            )
    chart_found = [pattern for pattern in data.patterns if not pattern.is_candlestick]
    if layers.patterns and data.patterns:
        with details[1].expander(
            f"Patterns ({len(chart_found)} chart, {len(data.patterns) - len(chart_found)} candle)"
        ):
            st.dataframe(
                [
                    {
                        "Pattern": pattern.kind.label,
                        "Bias": pattern.bias.value,
                        "From": vienna_time(pattern.start.to_pydatetime()),
                        "To": vienna_time(pattern.end.to_pydatetime()),
                        "Breakout": eur(pattern.breakout) if pattern.breakout is not None else "–",
                        "Confirmed": "yes" if pattern.confirmed else "no",
                        "Confidence": f"{pattern.confidence:.2f}",
                    }
                    for pattern in reversed((chart_found or data.patterns)[-40:])
                ],
                hide_index=True,
                width="stretch",
            )


chart_tab, asset_tab, macro_tab = st.tabs(["Chart", "Asset", "Macro"])
with chart_tab:
    live_chart()
with asset_tab:
    asset_panel(instrument_id)
with macro_tab:
    macro_panel()
