from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.fundamentals.models import AssetFundamentals, FundamentalsSource
from core.fundamentals.service import latest_fundamentals
from core.macro.models import MacroObservation
from core.market.query import instrument_by_symbol
from core.timeutil import utc_now
from tests.pages.conftest import chart_payloads


def test_charts_draws_candles_volume_overlays_levels_trades_orders_and_signals(
    demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    app = run_page("charts")
    assert app.selectbox(key="chart_instrument").format_func(app.selectbox(key="chart_instrument").value) == "BTC/EUR"
    assert app.metric[0].label == "BTC/EUR"
    (payload,) = chart_payloads(app)
    candles = payload["candles"]
    assert len(candles["t"]) == int(app.metric[3].value.replace(",", ""))
    assert candles["t"] == sorted(candles["t"]) and candles["t"][1] - candles["t"][0] == 4 * 3600
    assert payload["show_volume"] and len(candles["v"]) == len(candles["t"])
    assert {item["name"] for item in payload["overlays"]} == {"SMA 20", "EMA 50"}
    assert [pane["id"] for pane in payload["panes"]] == ["rsi_14"]
    kinds = {line["kind"] for line in payload["price_lines"]}
    assert {"support", "resistance"} & kinds
    assert "order_limit" in kinds  # the demo account's open limit order
    marker_kinds = {marker["kind"] for marker in payload["markers"]}
    assert {"fill", "consensus", "event", "pattern"} <= marker_kinds
    times = set(candles["t"])
    assert all(marker["time"] in times for marker in payload["markers"])  # markers sit on bars
    consensus = next(marker for marker in payload["markers"] if marker["kind"] == "consensus")
    assert "score" in consensus["tooltip"] and "agreement" in consensus["tooltip"]
    assert payload["theme"] in {"dark", "light"} and payload["time_zone"] == "Europe/Vienna"


def test_charts_timeframe_range_and_all_indicators(demo_database: Database, run_page) -> None:
    app = run_page("charts")
    app.segmented_control(key="chart_timeframe").set_value("1d")
    app.segmented_control(key="chart_range").set_value("All")
    app.multiselect(key="chart_indicators").set_value(["SMA", "EMA", "Bollinger Bands", "RSI", "MACD", "ATR"])
    app.run()
    assert not app.exception
    (payload,) = chart_payloads(app)
    overlays = {item["name"] for item in payload["overlays"]}
    assert {"BB 20/2 upper", "BB 20/2 lower", "SMA 20", "EMA 50"} <= overlays
    assert [pane["id"] for pane in payload["panes"]] == ["rsi_14", "macd", "atr_14"]
    macd = next(pane for pane in payload["panes"] if pane["id"] == "macd")
    assert [series["kind"] for series in macd["series"]] == ["histogram", "line", "line"]
    assert 395 <= len(payload["candles"]["t"]) <= 402  # about 400 days of daily bars


def test_charts_layers_can_be_switched_off(demo_database: Database, run_page) -> None:
    app = run_page("charts")
    for key in (
        "chart_volume",
        "chart_levels",
        "chart_trades",
        "chart_events",
        "chart_orders",
        "chart_consensus",
        "chart_patterns",
    ):
        app.toggle(key=key).set_value(False)
    app.run()
    (payload,) = chart_payloads(app)
    assert payload["markers"] == [] and payload["price_lines"] == [] and not payload["show_volume"]


def test_charts_pages_in_more_history_when_asked(demo_database: Database, run_page) -> None:
    app = run_page("charts")
    app.segmented_control(key="chart_range").set_value("1M").run()
    (first,) = chart_payloads(app)
    assert first["has_more_before"]
    app.session_state["chart_history_pages"] = 1
    app.run()
    (second,) = chart_payloads(app)
    assert second["candles"]["t"][-1] == first["candles"]["t"][-1]
    assert len(second["candles"]["t"]) > 1.8 * len(first["candles"]["t"])


def test_asset_and_macro_panels_show_stored_values(demo_database: Database, run_page) -> None:
    btc = demo_database.run(lambda s: instrument_by_symbol(s, "BTC/EUR"))
    assert btc is not None
    now = utc_now()

    def seed(session):
        session.add(
            AssetFundamentals(
                instrument_id=btc.id,
                source=FundamentalsSource.COINGECKO,
                provider_id="bitcoin",
                as_of=now - timedelta(seconds=1),  # newer than the demo seed's record (at its anchor hour)
                fetched_at=now - timedelta(seconds=1),
                metrics={
                    "kind": "crypto",
                    "name": "Bitcoin",
                    "currency": "EUR",
                    "market_cap": "395000000000.5",
                    "market_cap_rank": 1,
                    "dilution": 0.08,
                    "categories": ["Layer 1 (L1)"],
                },
            )
        )
        session.add(
            MacroObservation(
                series_id="DGS10",
                observation_date=(now - timedelta(days=2)).date(),
                realtime_start=(now - timedelta(days=1)).date(),
                value=Decimal("4.131"),
                published_at=now - timedelta(hours=12),
                fetched_at=now - timedelta(hours=11),
            )
        )
        session.add(
            MacroObservation(
                series_id="DGS10",
                observation_date=(now - timedelta(days=3)).date(),
                realtime_start=(now - timedelta(days=2)).date(),
                value=Decimal("4.200"),
                published_at=now - timedelta(days=1, hours=12),
                fetched_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )

    demo_database.run(seed)
    app = run_page("charts")
    tables = [frame.value for frame in app.dataframe]
    asset = next(table for table in tables if "Metric" in table.columns)
    rows = dict(zip(asset["Metric"], asset["Value"], strict=True))
    assert rows["Market cap"] == "€ 395,000,000,000.50"  # the number style of core.numbers
    assert rows["Not yet circulating (dilution)"] == "8.00 %"
    macro = next(table for table in tables if "Indicator" in table.columns)
    row = macro[macro["Indicator"] == "US 10-year Treasury yield"].iloc[0]
    assert (row["Latest"], row["Change"]) == ("4.13 %", "-0.07")


def test_the_asset_panel_shows_the_demo_fundamentals_as_demo_and_never_stale(
    demo_database: Database, run_page, monkeypatch
) -> None:
    import app.ui.market_panels as panels

    btc = demo_database.run(lambda s: instrument_by_symbol(s, "BTC/EUR"))
    assert btc is not None
    seeded = demo_database.run(lambda s: latest_fundamentals(s, btc.id))
    assert seeded is not None and seeded.source is FundamentalsSource.DEMO
    later = seeded.fetched_at + timedelta(days=30)  # a month after the seed: a provider's values would be stale
    monkeypatch.setattr(panels, "utc_now", lambda: later)
    app = run_page("charts")
    asset = next(frame.value for frame in app.dataframe if "Metric" in frame.value.columns)
    rows = dict(zip(asset["Metric"], asset["Value"], strict=True))
    assert rows["Market cap"].startswith("€ ") and "Circulating supply" in rows
    captions = [caption.value for caption in app.caption]
    assert any("Bitcoin (demo) · demo" in text and "computed from the demo market" in text for text in captions)
    assert not [warning for warning in app.warning if "Stale since" in warning.value]
