"""The Backtest page's Robustness tab on the demo database: a report built from the page is stored and shown."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.lab.models import LabKind
from core.lab.store import list_lab_results

PAGE = Path(__file__).resolve().parents[2] / "pages" / "backtest.py"


def test_a_report_built_in_the_tab_is_stored_and_shown(demo_database: Database) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=240)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.run()
    assert not at.exception
    assert any("No robustness report yet" in info.value for info in at.info)
    at.selectbox(key="robustness_symbol").set_value(next(
        option for option in at.selectbox(key="robustness_symbol").options if "BTC" in option))  # fmt: skip
    at.selectbox(key="robustness_timeframe").set_value("4h")
    at.number_input(key="robustness_trials").set_value(10)
    at.number_input(key="robustness_folds").set_value(2)
    next(button for button in at.button if button.label == "Build the robustness report").click()
    at.run()
    assert not at.exception, at.exception
    with demo_database.session() as session:
        stored = list_lab_results(session, kind=LabKind.ROBUSTNESS)
    assert len(stored) == 1 and stored[0].request["trials"] == 10
    shown = [markdown.value for markdown in at.markdown]
    assert any("Fees and slippage" in text for text in shown) and any("Against buy-and-hold" in text for text in shown)
    frames = [frame.value for frame in at.dataframe]
    assert any(list(frame.columns[:3]) == ["Costs", "Fee (bp)", "Slippage (bp)"] for frame in frames)
