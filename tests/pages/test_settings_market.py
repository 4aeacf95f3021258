"""The "Instruments & data" tab of the Settings page on the demo database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.demo.removal import remove_demo_data
from core.market.models import Instrument
from core.security.secrets import SecretStore
from core.system.models import StoredSecret

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings_page() -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "settings.py"), default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.run()
    assert not at.exception
    return at


def test_instruments_tab_lists_adds_changes_and_stores_keys_masked(demo_database: Database) -> None:
    at = settings_page()
    assert "Instruments & data" in [tab.label for tab in at.tabs]
    table = at.dataframe[0].value
    assert {"BTC/EUR", "ETH/EUR", "SOL/EUR", "AAPL"} <= set(table["Symbol"])

    at.text_input(key="market_add_symbol").input("xrp/eur")
    at.text_input(key="market_add_coingecko").input("ripple")
    at.button[[button.label for button in at.button].index("Add instrument")].click()
    at.run()
    assert not at.exception
    assert any("Added XRP/EUR" in message.value for message in at.success)

    at.text_input(key="market_add_symbol").input("DOGE/EUR")
    at.text_input(key="market_add_source").input("nowhere")
    at.button[[button.label for button in at.button].index("Add instrument")].click()
    at.run()
    assert any("unknown data source" in message.value for message in at.error)

    at.selectbox(key="market_change_symbol").select("XRP/EUR")
    at.run()
    at.text_input(key="market_change_source_XRP/EUR").input("coingecko")
    at.checkbox(key="market_change_tracked_XRP/EUR").uncheck()
    at.button[[button.label for button in at.button].index("Save changes")].click()
    at.run()
    assert not at.exception

    # Storing a key is a real act: refused while the demo data is there, nothing stored.
    at.text_input(key="secret_input_market.coingecko.api_key").input("CG-abcdefgh1234")
    at.button(key="secret_save_market.coingecko.api_key").click()
    at.run()
    assert any("storing an API key is refused" in message.value for message in at.error)
    assert demo_database.run(lambda session: session.get(StoredSecret, "market.coingecko.api_key")) is None
    with demo_database.session() as session:
        remove_demo_data(session, actor="tester")

    at.text_input(key="secret_input_market.coingecko.api_key").input("CG-abcdefgh1234")
    at.button(key="secret_save_market.coingecko.api_key").click()
    at.run()
    assert not at.exception
    page_text = " ".join(str(element.value) for element in at.main.children.values() if hasattr(element, "value"))
    assert "CG-abcdefgh1234" not in page_text
    assert any("CoinGecko demo API key saved" in message.value for message in at.success)
    at.run()
    assert at.text_input(key="secret_input_market.coingecko.api_key").placeholder == "••••1234"

    with demo_database.session() as session:
        xrp = session.scalar(select(Instrument).where(Instrument.symbol == "XRP/EUR"))
        assert xrp is not None
        assert (xrp.default_source, xrp.tracked, xrp.coingecko_id) == ("coingecko", False, "ripple")
        assert session.scalar(select(Instrument).where(Instrument.symbol == "DOGE/EUR")) is None
        stored = session.get(StoredSecret, "market.coingecko.api_key")
        assert stored is not None
        assert b"CG-abcdefgh1234" not in stored.ciphertext
        assert SecretStore().get(session, "market.coingecko.api_key") == "CG-abcdefgh1234"
