"""Headless Chromium: the TradingView chart renders, takes a new candle from the database in place, keeps zoom."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from core.db.engine import Database
from core.market.models import Candle
from core.market.query import instrument_by_symbol
from core.market.store import store_candles
from tests.e2e.conftest import DEMO_COPY, login, open_app, open_page_in_sidebar, wait_for_app

pytestmark = pytest.mark.browser
REFRESH_SECONDS = 10  # the Charts page's default live refresh


def _add_next_candle(path: Path) -> int:
    """Store the next hourly BTC/EUR candle (the forming one) with a distinctive close; return its epoch."""
    database = Database(f"sqlite:///{path}")
    try:

        def add(session):
            btc = instrument_by_symbol(session, "BTC/EUR")
            assert btc is not None
            latest = session.scalar(
                select(func.max(Candle.ts)).where(Candle.instrument_id == btc.id, Candle.timeframe == "1h")
            )
            source = session.scalar(select(Candle.source).where(Candle.instrument_id == btc.id).limit(1))
            ts = latest + pd.Timedelta(hours=1)
            frame = pd.DataFrame(
                [{"ts": ts, "open": 70_000.0, "high": 70_500.0, "low": 69_900.0, "close": 70_123.0, "volume": 12.5}]
            )
            result = store_candles(session, frame, instrument_id=btc.id, source=source, timeframe="1h")
            assert result.inserted == 1, result
            return int(ts.timestamp())

        return database.run(add)
    finally:
        database.dispose()


def test_new_candle_appears_in_place_and_zoom_is_kept(app_server: str, browser: Browser, tmp_path: Path) -> None:
    page = open_app(browser, app_server, {"width": 1400, "height": 1100})
    login(page)
    open_page_in_sidebar(page, "Charts")
    page.locator("button").filter(has_text=re.compile(r"^1h$")).first.click()
    wait_for_app(page)
    chart = page.locator(".konsens-lwchart")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(chart).to_have_attribute("data-bars", re.compile(r"^2[0-9]{3}$"))  # 1h bars of three months
    mounts = chart.get_attribute("data-mounts")  # a new timeframe builds a new chart; updates must not
    # Zoom in with the mouse wheel, as in TradingView.
    box = chart.locator(".konsens-lwchart-plot").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.3)
    before = float(chart.get_attribute("data-visible-to") or 0) - float(chart.get_attribute("data-visible-from") or 0)
    for _ in range(4):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(150)
    zoomed = float(chart.get_attribute("data-visible-to") or 0) - float(chart.get_attribute("data-visible-from") or 0)
    assert zoomed < before * 0.9, (before, zoomed)
    bars = int(chart.get_attribute("data-bars") or 0)

    new_time = _add_next_candle(tmp_path / DEMO_COPY)
    expect(chart).to_have_attribute("data-last-time", str(new_time), timeout=(REFRESH_SECONDS + 20) * 1000)
    expect(chart).to_have_attribute("data-last-close", re.compile(r"^70123(\\.0)?$"))
    assert chart.get_attribute("data-applied") == "incremental"  # series.update(), no setData
    assert chart.get_attribute("data-mounts") == mounts  # the chart was not rebuilt
    assert int(chart.get_attribute("data-bars") or 0) in (bars, bars + 1)
    kept = float(chart.get_attribute("data-visible-to") or 0) - float(chart.get_attribute("data-visible-from") or 0)
    assert abs(kept - zoomed) < 1.0, (zoomed, kept)  # the user's zoom survived the update
