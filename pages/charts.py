"""Charts: candlesticks with volume, chosen indicators, support/resistance and the user's own trades."""

from __future__ import annotations

import streamlit as st

from app.ui.context import page_setup, read
from app.ui.figures import candlestick_figure
from app.ui.format import eur, pct, vienna_time
from core.analysis.indicators import DEFAULT_LENGTHS, IndicatorKind, IndicatorSpec
from core.charts.data import CHART_TIMEFRAMES, RANGES, chart_data, chart_instruments

INDICATOR_NAMES = {
    "SMA": IndicatorKind.SMA,
    "EMA": IndicatorKind.EMA,
    "Bollinger Bands": IndicatorKind.BBANDS,
    "RSI": IndicatorKind.RSI,
    "MACD": IndicatorKind.MACD,
    "ATR": IndicatorKind.ATR,
}
DEFAULT_RANGE = {"1h": "1M", "4h": "3M", "1d": "1Y"}

page_setup("Charts", ":material/candlestick_chart:")

instruments = read(lambda session: [(item.id, item.symbol, item.name, item.asset_class.value)
                                    for item in chart_instruments(session)])  # fmt: skip
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
    lengths = {
        kind: option_columns[index].number_input(
            f"{name} length", min_value=2, max_value=400, value=DEFAULT_LENGTHS[kind], key=f"length_{kind.value}"
        )
        for index, (name, kind) in enumerate(INDICATOR_NAMES.items())
        if kind is not IndicatorKind.MACD
    }
    toggles = st.columns(4)
    show_volume = toggles[0].toggle("Volume", value=True, key="chart_volume")
    show_levels = toggles[1].toggle("Support / resistance", value=True, key="chart_levels")
    show_trades = toggles[2].toggle("My trades", value=True, key="chart_trades")
    show_events = toggles[3].toggle("Economic events", value=True, key="chart_events")

specs = [IndicatorSpec(INDICATOR_NAMES[name], length=int(lengths.get(INDICATOR_NAMES[name], 26))) for name in chosen]
try:
    data = read(lambda session: chart_data(session, instrument_id, timeframe, range_name, indicators=specs,
                                           with_levels=show_levels))  # fmt: skip
except ValueError as error:
    st.error(str(error))
    st.stop()

if data.candles.empty:
    st.info(" ".join(data.notes) or f"No candles for {data.symbol}.")
    st.stop()

last = data.candles.iloc[-1]
first_close = float(data.candles["close"].iloc[0])
summary = st.columns(5)
summary[0].metric(data.symbol, eur(last["close"]), pct(last["close"] / first_close - 1) if first_close else None,
                  help=f"Last close; change over the shown range ({range_name}).")  # fmt: skip
summary[1].metric("Range high", eur(data.candles["high"].max()))
summary[2].metric("Range low", eur(data.candles["low"].min()))
summary[3].metric("Candles", f"{len(data.candles):,}")
summary[4].metric("My trades in range", len(data.trades))

figure = candlestick_figure(data, specs, show_volume=show_volume, show_levels=show_levels, show_trades=show_trades,
                            show_events=show_events, asset_class=by_id[instrument_id][3])  # fmt: skip
st.plotly_chart(figure, width="stretch", key="price_chart",
                config={"displaylogo": False, "scrollZoom": True})  # fmt: skip
st.caption(
    f"{data.symbol} · {timeframe} · source {data.source} · {vienna_time(data.start)} – {vienna_time(data.end)} "
    "(Vienna time)" + ("" if not data.notes else " · " + " ".join(data.notes))
)
if data.levels:
    with st.expander(f"Support and resistance ({len(data.levels)})"):
        st.dataframe(
            [{"Kind": level.kind.value, "Price": round(level.price, 2), "Touches": level.touches,
              "Strength": round(level.strength, 2), "Last touch": vienna_time(level.last_touch.to_pydatetime())}
             for level in sorted(data.levels, key=lambda level: -level.price)],
            hide_index=True, width="stretch",
        )  # fmt: skip
