from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.market.query import instrument_by_symbol
from tests.pages.conftest import plotly_specs


def test_charts_draws_candles_volume_overlays_levels_and_trades(
    demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    app = run_page("charts")
    assert app.selectbox(key="chart_instrument").format_func(app.selectbox(key="chart_instrument").value) == "BTC/EUR"
    assert app.metric[0].label == "BTC/EUR"
    (figure,) = plotly_specs(app)
    types = [trace["type"] for trace in figure["data"]]
    names = [trace.get("name") for trace in figure["data"]]
    assert types[0] == "candlestick"
    assert len(figure["data"][0]["x"]) == int(app.metric[3].value.replace(",", ""))
    assert "bar" in types  # volume
    assert {"SMA 20", "EMA 50", "RSI 14"} <= set(names)
    assert any(shape.get("line", {}).get("dash") == "dash" for shape in figure["layout"].get("shapes", []))
    events = next(trace for trace in figure["data"] if trace.get("name") == "Economic events")
    assert events["x"]
    assert all(text[0].endswith(("medium)", "high)")) for text in events["customdata"])


def test_charts_timeframe_range_and_all_indicators(demo_database: Database, run_page) -> None:  # type: ignore[no-untyped-def]
    app = run_page("charts")
    app.segmented_control(key="chart_timeframe").set_value("1d")
    app.segmented_control(key="chart_range").set_value("All")
    app.multiselect(key="chart_indicators").set_value(["SMA", "EMA", "Bollinger Bands", "RSI", "MACD", "ATR"])
    app.run()
    assert not app.exception
    (figure,) = plotly_specs(app)
    names = {trace.get("name") for trace in figure["data"]}
    assert {"BB 20 upper", "BB 20 lower", "MACD", "Signal", "ATR 14", "RSI 14", "My buys", "My sells"} <= names
    candles = figure["data"][0]
    assert 395 <= len(candles["x"]) <= 402  # about 400 days of daily bars
    assert "yaxis5" in figure["layout"]  # price, volume and three indicator panels


def test_charts_for_a_stock_hides_closed_hours(demo_database: Database, run_page) -> None:  # type: ignore[no-untyped-def]
    aapl = demo_database.run(lambda s: instrument_by_symbol(s, "AAPL"))
    assert aapl is not None
    app = run_page("charts")
    app.selectbox(key="chart_instrument").set_value(aapl.id).run()
    assert not app.exception
    assert app.metric[0].label == "AAPL"
    (figure,) = plotly_specs(app)
    breaks = figure["layout"]["xaxis"]["rangebreaks"]
    assert breaks and breaks[0]["dvalue"] == 4 * 3600 * 1000  # 4h bars: nights and weekends hidden
