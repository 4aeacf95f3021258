"""The sizing panel of the order ticket and the Settings → Risk section, on the demo database."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.audit import AuditAction, AuditEntry
from core.db.engine import Database
from core.risk.settings import load_limits


def _sizing_script() -> None:
    from decimal import Decimal

    import streamlit as st

    from app.ui.context import database, read
    from app.ui.sizing import render_sizing_panel
    from core.market.query import instrument_by_symbol

    instrument = read(lambda session: instrument_by_symbol(session, "BTC/EUR"))
    assert instrument is not None
    overview = render_sizing_panel(
        database(), account="paper", instrument_id=instrument.id, entry=Decimal("60000"), stop=Decimal("57000")
    )
    st.session_state["methods"] = [s.method.value for s in overview.suggestions] if overview else []


def test_sizing_panel_shows_quantity_and_money_at_risk_per_method(demo_database: Database) -> None:
    at = AppTest.from_function(_sizing_script, default_timeout=60).run()
    assert not at.exception
    table = at.table[0].value
    assert list(table["Method"]) == ["Fixed fraction", "Fixed risk", "ATR", "Kelly"]
    assert list(table.columns) == ["Method", "Quantity", "Notional", "At risk"]  # narrow: fits the side column
    fixed_risk = table.set_index("Method").loc["Fixed risk"]
    assert fixed_risk["At risk"].startswith("€\u00a0") and fixed_risk["At risk"].endswith("\u00a0%)")
    assert "stop 57,000.00" in at.caption[0].value
    assert float(fixed_risk["Quantity"]) > 0
    assert "closed trades" in at.caption[0].value and "Equity € " in at.caption[0].value


def _settings_script() -> None:
    import streamlit as st

    from app.settings_sections import risk
    from app.ui.context import database

    st.session_state["username"] = "demo"
    risk.render(database())


def test_settings_section_saves_limits_with_audit(demo_database: Database) -> None:
    at = AppTest.from_function(_settings_script, default_timeout=60).run()
    assert not at.exception
    at.number_input(key="rl_notional").set_value(12000.0)
    at.number_input(key="rl_cooldown").set_value(45)
    at.button[0].click().run()  # the first form's submit button: Save limits
    assert not at.exception
    assert any("Limits saved" in element.value for element in at.success)
    with demo_database.session() as session:
        limits = load_limits(session)
        assert limits.max_order_notional_eur == 12000 and limits.cooldown_minutes == 45
        last = session.query(AuditEntry).order_by(AuditEntry.id.desc()).first()
        assert last is not None and last.action is AuditAction.LIMIT_CHANGED and last.actor == "demo"
        assert set(last.details["changes"]) == {"max_order_notional_eur", "cooldown_minutes"}
