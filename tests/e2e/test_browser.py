"""Headless Chromium: log in as demo/demo, see Portfolio and Charts render with data."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import TIMEOUT_MS, login, open_app, open_page_in_sidebar, wait_for_app

pytestmark = pytest.mark.browser


def test_demo_login_then_portfolio_and_charts_render_with_data(app_server: str, browser: Browser) -> None:
    page = open_app(browser, app_server, {"width": 1400, "height": 1000})
    # Nothing but the login form before login.
    expect(page.get_by_role("button", name="Login")).to_be_visible()
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    login(page, "demo", "wrong")
    expect(page.get_by_text("Username or password is wrong.")).to_be_visible()

    login(page, "demo", "demo")
    # Portfolio: equity tile with a euro amount, the holdings table, the charts.
    expect(page.get_by_role("heading", name="Portfolio")).to_be_visible()
    equity = page.get_by_test_id("stMetric").filter(has_text="Equity")
    expect(equity).to_contain_text(re.compile(r"€ [0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}"))
    holdings = page.get_by_test_id("stDataFrame").first
    expect(holdings).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(holdings.locator("canvas").first).to_be_visible()
    box = holdings.bounding_box()
    assert box is not None and box["height"] > 4 * 35  # header + the four demo holdings
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some("
        " el => el.data && el.data.some(t => t.type === 'pie' && t.labels.includes('Cash (EUR)')))",
        timeout=TIMEOUT_MS,
    )

    # Charts: the TradingView chart draws its canvas with the candles.
    open_page_in_sidebar(page, "Charts")
    expect(page.get_by_role("heading", name="Charts")).to_be_visible()
    chart = page.locator(".konsens-lwchart")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(chart).to_have_attribute("data-bars", re.compile(r"^[1-9][0-9]{2,}$"))
    expect(page.get_by_test_id("stMetric").filter(has_text="BTC/EUR")).to_be_visible()


def test_backtest_and_risk_tabs_run_when_opened_and_keep_the_open_tab_in_the_url(
    app_server: str, browser: Browser
) -> None:
    page = open_app(browser, app_server, {"width": 1400, "height": 1000})
    login(page)

    # Backtest: the Run tab with the newest run; the other tabs' content is not on the page.
    open_page_in_sidebar(page, "Backtest")
    expect(page.get_by_role("button", name="Run backtest")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the equity curve
    expect(page.get_by_role("button", name="Run sweep")).to_have_count(0)
    page.get_by_role("tab", name="Price chart with trades").click()
    wait_for_app(page)
    expect(page.locator(".konsens-lwchart canvas").first).to_be_visible()
    page.get_by_role("tab", name="Past runs").click()
    wait_for_app(page)
    expect(page.get_by_text("Compare equity curves")).to_be_visible()
    expect(page.get_by_role("button", name="Run backtest")).to_have_count(0)
    assert "section=Past" in page.url
    page.reload()  # the URL reopens the tab
    wait_for_app(page)
    expect(page.get_by_text("Compare equity curves")).to_be_visible()

    # Risk: the tiles on top whatever the tab; Alerts one click away.
    open_page_in_sidebar(page, "Risk")
    expect(page.get_by_test_id("stMetric").filter(has_text="Open alerts")).to_contain_text("3")
    expect(page.get_by_test_id("stMetric").filter(has_text="Sortino")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    page.get_by_role("tab", name="Alerts").click()
    wait_for_app(page)
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(3)
    expect(page.get_by_test_id("stMetric").filter(has_text="Sortino")).to_have_count(0)
