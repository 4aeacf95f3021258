"""The Backtest page's "Your strategies" tab: user strategies with parameters, broken files, signal sources."""

from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.backtest.signal_source import list_sources
from core.backtest.user_strategies import load_catalog, register_catalog
from core.db.engine import Database
from tests.core.backtest import user_files

PAGE = Path(__file__).resolve().parents[2] / "pages" / "backtest.py"


def _page() -> AppTest:
    """The Backtest page opened on its "Your strategies" tab (``?section=``; only the open tab runs)."""
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.query_params["section"] = "Your strategies"
    return at


def test_the_tab_lists_user_strategies_with_parameters_and_shows_a_broken_file(demo_database: Database) -> None:
    directory = Path(os.environ["KONSENS_HOME"]) / "strategies"
    good = user_files.write(directory, "momentum.py", user_files.GOOD)
    broken = user_files.write(directory, "broken.py", user_files.SYNTAX_ERROR)
    try:
        at = _page().run()
        assert not at.exception
        assert [tab.label for tab in at.tabs][-1] == "Your strategies"
        assert [error.value for error in at.error] == [f"Refused: {broken}, line 7: syntax error: expected ':'"]
        assert any(
            f"{good}, line {user_files.line_of(good, 'class Momentum')}" in caption.value for caption in at.caption
        )
        frames = [frame.value for frame in at.dataframe]
        parameters = next(frame for frame in frames if "Parameter" in frame.columns)
        assert parameters.to_dict(orient="records") == [
            {"Parameter": "lookback", "Type": "int", "Default": 5, "Range": "2 … 50", "Meaning": "candles"}
        ]
        at.selectbox(key="source_strategy").set_value("momentum")
        at.selectbox(key="source_symbol").set_value("ETH/EUR")
        at.text_input(key="source_params").set_value("lookback=9")
        next(button for button in at.button if button.label == "Enable as paper signal source").click()
        at.run()
        assert not at.exception
        with demo_database.session() as session:
            (source,) = list_sources(session)
        assert (source.strategy, source.symbol, source.timeframe, source.parameters) == (
            "momentum",
            "ETH/EUR",
            "1h",
            {"lookback": 9},
        )
        assert source.enabled and not source.live
        at.query_params.clear()  # AppTest resends the opening URL's parameter on every run; a browser updates it
        at.session_state["section"] = "Run"  # what a click on the Run tab does
        at.run()
        assert not at.exception
        assert "Momentum" in at.selectbox(key="run_strategy").options  # runnable on the Run tab (by its title)
    finally:
        register_catalog(load_catalog(None))


def test_bad_signal_source_parameters_show_an_error_and_store_nothing(demo_database: Database) -> None:
    at = _page().run()
    at.selectbox(key="source_strategy").set_value("sma-cross")
    at.text_input(key="source_params").set_value("fast=50, slow=10")
    next(button for button in at.button if button.label == "Enable as paper signal source").click()
    at.run()
    assert [error.value for error in at.error] == ["sma-cross needs fast < slow"]
    with demo_database.session() as session:
        assert list_sources(session) == []
