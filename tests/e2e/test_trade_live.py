"""Headless Chromium: a paper order placed on Trade fills through a running executor and updates in place.

The dashboard runs as ``python -m app.server`` on a copy of the demo database; the executor worker
(``workers/executor.py``, its real risk checks, as ``konsens up`` runs it) runs in a thread on the
same database file. After the order is placed, a quote arrives (what the market worker stores);
the executor fills the order at it, and the open page shows the fill toast and the order's new
state without a reload: the Trade page's 2 s fragment re-runs alone.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from core.db.engine import Database
from core.execution.models import Order
from core.market.models import Quote
from core.market.query import instrument_by_symbol
from core.timeutil import utc_now
from tests.e2e.conftest import DEMO_COPY, TIMEOUT_MS, login, open_app, open_page_in_sidebar
from workers.executor import build_worker

pytestmark = pytest.mark.browser
QUOTE = Decimal("70123.45")


def _add_quote(database: Database, symbol: str) -> None:
    def add(session):
        instrument = instrument_by_symbol(session, symbol)
        assert instrument is not None
        session.add(Quote(instrument_id=instrument.id, source="test", ts=utc_now(), last=QUOTE))

    database.run(add)


def test_a_paper_order_fills_and_the_page_shows_it_without_a_reload(
    app_server: str, browser: Browser, tmp_path: Path
) -> None:
    database = Database(f"sqlite:///{tmp_path / DEMO_COPY}")
    executor = build_worker(database, interval_seconds=0.2)
    worker = threading.Thread(target=executor.run, daemon=True)
    worker.start()
    try:
        page = open_app(browser, app_server, {"width": 1400, "height": 1100})
        login(page)
        open_page_in_sidebar(page, "Trade")
        # the sizing table fits the ticket's side column: no horizontal scroll bar
        sizing = page.locator("[data-testid='stTable']").first
        expect(sizing).to_contain_text("At risk")
        widths = sizing.evaluate(
            "el => [...el.querySelectorAll('*')].concat([el]).map(n => n.scrollWidth - n.clientWidth)"
        )
        assert max(widths) <= 1, widths
        page.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="BTC/EUR", exact=True).click()
        page.get_by_label("Size", exact=True).fill("0.01")
        page.evaluate("window.__konsensNoReload = true")  # gone if the browser reloads the page
        page.get_by_role("button", name="Place paper order").click()
        placed = page.locator("[class*='st-key-placed_']").first
        expect(placed).to_contain_text("BTC/EUR", timeout=TIMEOUT_MS)
        client_id = database.run(
            lambda session: session.scalars(
                select(Order.client_order_id).where(Order.request.is_not(None)).order_by(Order.id.desc())
            ).first()
        )
        assert client_id is not None and client_id[:8] in (placed.text_content() or "")
        _add_quote(database, "BTC/EUR")  # the next price: the executor fills the market order at it
        toast = page.locator("[data-testid='stToast']").filter(has_text=re.compile(r"Filled: buy 0\.01 BTC/EUR"))
        expect(toast.first).to_be_visible(timeout=30_000)
        expect(placed).to_contain_text("filled 0.01 at € 70,", timeout=30_000)
        assert page.evaluate("window.__konsensNoReload === true")
        status = database.run(
            lambda session: session.scalar(select(Order.status).where(Order.client_order_id == client_id))
        )
        assert str(status) in ("filled", "OrderStatus.FILLED")
        page.screenshot(path=str(tmp_path / "trade-filled.png"), full_page=True)
    finally:
        executor.stop()
        worker.join(timeout=30)
        database.dispose()
