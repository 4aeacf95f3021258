"""The browser warm-up: Streamlit's lazily loaded widget modules, loaded once per session while the first page rests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.ui import browser_warmup


def test_every_widget_module_is_found_once_in_the_installed_streamlit() -> None:
    """Names of Streamlit's static files: pinned here, so an upgrade that renames one fails, not silently."""
    files = browser_warmup.chunk_files()
    assert [name.split(".")[0] for name in files] == list(browser_warmup.WIDGET_CHUNKS)
    for name in files:
        assert (browser_warmup.STATIC_JS / name).is_file()
    assert files == browser_warmup._CHUNKS
    # the element imports them relative to Streamlit's entry script, which lives in the same folder
    index = (browser_warmup.STATIC_JS.parents[1] / "index.html").read_text(encoding="utf-8")
    assert 'type="module"' in index and "./static/js/index." in index
    assert 'src*="static/js/index."' in browser_warmup.JS


def test_chunk_files_match_name_and_hash_only(tmp_path: Path) -> None:
    for name in ("Radio.AbC_1-2.js", "RadioGroup.x1.js", "Radio.css", "Metric.q.js", "Metric.q.js.map"):
        (tmp_path / name).write_text("")
    assert browser_warmup.chunk_files(tmp_path, ("Metric", "Radio", "Slider")) == ["Metric.q.js", "Radio.AbC_1-2.js"]
    assert browser_warmup.chunk_files(tmp_path / "missing") == []


def _app() -> None:
    import streamlit as st

    from app.ui.browser_warmup import warm_browser_widgets

    st.write(f"mounted: {warm_browser_widgets()}")


def test_the_element_is_mounted_once_per_session() -> None:
    app = AppTest.from_function(_app).run(timeout=60)
    assert not app.exception
    assert app.markdown[0].value == "mounted: True"
    app.run(timeout=60)
    assert app.markdown[0].value == "mounted: False"
    fresh = AppTest.from_function(_app).run(timeout=60)  # another session mounts it again
    assert fresh.markdown[0].value == "mounted: True"
