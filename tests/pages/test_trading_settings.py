from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.demo.removal import remove_demo_data
from core.execution.accounting import asset_balance
from core.execution.settings import load_trading_config

PAGE = Path(__file__).resolve().parents[2] / "pages" / "settings.py"


@pytest.fixture
def local_dashboard() -> Iterator[None]:
    """Run the page as if the server listened on localhost only (no second factor needed for live)."""
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


def test_live_on_a_reachable_dashboard_needs_a_second_factor(configured_sqlite: Database) -> None:
    from core.security.users import create_user

    configured_sqlite.run(lambda session: create_user(session, "anna", "correct horse battery"))
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "anna"
    at.run()  # server.address unset: Streamlit listens on every interface
    next(t for t in at.toggle if t.label == "Enable live trading").set_value(True).run()
    assert any("enable two-factor authentication" in e.value for e in at.error)


def test_trading_tab_saves_fees_and_refuses_live_without_a_key(demo_database: Database, local_dashboard: None) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.run()
    assert not at.exception
    assert any(tab.label == "Trading" for tab in at.tabs)
    toggle = next(t for t in at.toggle if t.label == "Enable live trading")
    toggle.set_value(True).run()
    assert any("enabling live trading is refused" in e.value and "konsens demo --remove" in e.value for e in at.error)
    assert next(t for t in at.toggle if t.label == "Enable live trading").value is False  # put back
    with demo_database.session() as session:
        remove_demo_data(session, actor="tester")
    next(t for t in at.toggle if t.label == "Enable live trading").set_value(True).run()
    assert any("API key before enabling" in e.value for e in at.error)
    slippage = next(t for t in at.text_input if t.label.startswith("Paper slippage"))
    slippage.set_value("0.002")
    next(b for b in at.button if b.label == "Save" and "trading_costs" in str(b.key)).click().run()
    assert any(s.value == "Saved." for s in at.success)
    next(b for b in at.button if b.label == "Deposit" and "paper_deposit" in str(b.key)).click().run()
    with demo_database.session() as session:
        config = load_trading_config(session)
        assert str(config.paper_slippage) == "0.002" and not config.live_enabled
        actions = [row.action for row in session.scalars(select(AuditEntry))]
        assert AuditAction.SETTING_CHANGED in actions
        assert asset_balance(session, "paper", "EUR") == 10000  # the demo's 50,000 went with the demo data
