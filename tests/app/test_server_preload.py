"""The dashboard's warm-up: the pages' imports, Plotly's figures and the page scripts, before a user clicks."""

from __future__ import annotations

import inspect
import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.runtime.scriptrunner.script_cache import ScriptCache

from app.ui import preload


def test_page_modules_are_the_top_level_imports_of_every_page(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "from __future__ import annotations\n"
        "import json, csv as table\n"
        "from core.risk.service import risk_snapshot\n"
        "from . import sibling\n"  # relative: not a module of its own
        "def later():\n"
        "    import decimal  # deferred on purpose: stays deferred\n"
    )
    (tmp_path / "b.py").write_text("import json\nfrom app.ui.cache import versioned\nimport core.charts.data\n")
    (tmp_path / "notes.txt").write_text("import os\n")
    assert preload.page_modules(tmp_path) == ["json", "csv", "core.risk.service", "app.ui.cache", "core.charts.data"]


def test_the_real_pages_modules_include_what_the_backtest_and_risk_pages_import() -> None:
    names = preload.page_modules()
    for name in (
        "app.ui.backtest_charts",
        "app.ui.strategy_lab",
        "app.ui.jobs",
        "app.ui.risk_figures",
        "core.risk.service",
    ):
        assert name in names
    assert "app.ui.robustness" not in names  # the Backtest page imports it inside its Robustness tab
    assert len(names) == len(set(names))


def test_a_module_that_fails_to_import_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app.ui.preload"):
        failed = preload.import_modules(["json", "konsens_no_such_module", "csv"])
    assert failed == ["konsens_no_such_module"]
    assert "konsens_no_such_module" in caplog.text


def test_each_backtest_and_risk_figure_kind_is_built_and_serialised() -> None:
    assert preload.warm_figures() == 6


def test_preload_pages_imports_the_pages_modules_and_configures_the_orm() -> None:
    import sys

    from core.db.base import Base

    assert preload.preload_pages() > 0
    assert all(name in sys.modules for name in preload.page_modules())
    assert not Base.registry._new_mappers


def test_page_scripts_are_compiled_into_streamlit_s_script_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ScriptCache()
    broken = tmp_path / "broken.py"
    broken.write_text("def page(:\n")
    scripts = preload.page_scripts()
    assert scripts[0] == preload.MAIN_SCRIPT and {path.name for path in scripts} >= {"backtest.py", "risk.py"}
    with caplog.at_level(logging.WARNING, logger="app.ui.preload"):
        assert preload.warm_page_scripts(cache, [*scripts, broken]) == len(scripts)
    assert "broken.py" in caplog.text  # left for its first run to report, as without the warm-up
    for script in scripts:  # cache hits: the same code object as the warm-up's
        assert cache.get_bytecode(str(script)) is cache.get_bytecode(str(script.resolve()))
    assert len(cache._cache) == len(scripts)


def test_the_warm_up_thread_waits_for_the_runtime_and_fills_its_script_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit import runtime

    cache = ScriptCache()
    started = threading.Event()
    monkeypatch.setattr(runtime, "exists", started.is_set)
    monkeypatch.setattr(runtime, "get_instance", lambda: SimpleNamespace(_script_cache=cache))
    monkeypatch.setattr(preload, "_scripts_warmed", threading.Event())
    monkeypatch.setattr(preload, "_pages_warmed", threading.Event())
    steps: list[str] = []

    def pages() -> float:
        steps.append("pages")
        return 0.0

    monkeypatch.setattr(preload, "preload_pages", pages)
    thread = preload.start_page_warmup(freeze=lambda: steps.append("freeze"), timeout=60)
    assert preload.wait_for_page_warmup(60)
    thread.join(0.3)
    assert steps == ["pages", "freeze"]  # the pages' modules, then the freeze, without waiting for the runtime
    assert thread.is_alive() and not cache._cache  # no runtime yet: nothing compiled
    started.set()
    thread.join(60)
    assert not thread.is_alive() and preload._scripts_warmed.is_set()
    assert len(cache._cache) == len(preload.page_scripts())


def test_a_runtime_that_never_starts_ends_the_thread(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from streamlit import runtime

    monkeypatch.setattr(runtime, "exists", lambda: False)
    monkeypatch.setattr(preload, "preload_pages", lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="app.ui.preload"):
        preload.start_page_warmup(timeout=0.2).join(10)
    assert "did not start" in caplog.text


def test_streamlit_keeps_the_page_bytecode_in_the_runtime_s_script_cache() -> None:
    """Private to Streamlit: pinned here, so an upgrade that moves the cache fails, not silently."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.runtime import Runtime

    assert "self._script_cache = ScriptCache()" in inspect.getsource(Runtime.__init__)
    assert "self._script_cache.get_bytecode(script_path)" in inspect.getsource(PagesManager.get_page_script_byte_code)
