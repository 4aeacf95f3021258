"""Helpers for page tests: run a page script as a logged-in user with AppTest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_page() -> Callable[..., AppTest]:
    """Return ``run(name, username="demo")``: the page ``pages/<name>.py`` run once, logged in."""

    def run(name: str, *, username: str = "demo") -> AppTest:
        app = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
        app.session_state["authentication_status"] = True
        app.session_state["username"] = username
        app.run()
        assert not app.exception, [item.value for item in app.exception]
        return app

    return run


def plotly_specs(app: AppTest) -> list[dict[str, Any]]:
    """Return the Plotly figures of a run as JSON dicts."""
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def chart_payloads(app: AppTest) -> list[dict[str, Any]]:
    """Return the data sent to the TradingView chart components of a run."""
    return [
        json.loads(element.proto.json)
        for element in app.get("bidi_component")
        if element.proto.component_name == "konsens_lwchart"
    ]
