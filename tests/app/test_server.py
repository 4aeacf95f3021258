"""The dashboard launcher: Streamlit's own command line, with the page imports warmed before it serves."""

from __future__ import annotations

import sys

import pytest

from app import server
from app.ui import preload


def test_the_launcher_preloads_then_runs_streamlit_on_app_main(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_streamlit_main() -> None:
        seen["argv"] = list(sys.argv)
        seen["preloaded"] = preload._finished.is_set()

    from streamlit.web import cli

    monkeypatch.setattr(cli, "main", fake_streamlit_main)
    monkeypatch.setattr(preload, "_started", type(preload._started)())
    monkeypatch.setattr(preload, "_finished", type(preload._finished)())
    monkeypatch.setattr(sys, "argv", ["app.server"])
    server.main(["--server.port", "8599", "--server.headless", "true"])
    assert seen == {
        "argv": ["streamlit", "run", str(server.MAIN_SCRIPT), "--server.port", "8599", "--server.headless", "true"],
        "preloaded": True,
    }
    assert server.MAIN_SCRIPT.name == "main.py" and (server.PROJECT_ROOT / "pages").is_dir()
    assert "pandas_ta" in sys.modules and "app.ui.figures" in sys.modules  # imported before serving
