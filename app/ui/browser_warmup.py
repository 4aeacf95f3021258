"""Load Streamlit's lazily loaded widget code in the browser while the first page rests (issue 21).

Streamlit's front end fetches, parses and runs the code of most widgets (number and date inputs,
radios, multiselects, ...) only when a page first shows one: the Backtest page's first open in a
browser session loaded six such modules (``NumberInput``, ``DateInput`` with its date field,
``Radio``, ...), a good part of that open's browser CPU. ``warm_browser_widgets`` mounts, once per
session, an invisible components-v2 element in the sidebar whose script imports the widget
modules the pages use (``WIDGET_CHUNKS``, found by name in the installed Streamlit's static
files) when the browser is idle; Streamlit's own imports of the same URLs then resolve from the
browser's module map. It renders nothing and reads no data; if a name is not found in a
Streamlit release, that module is simply loaded on first use as before (``tests/app`` pins the names).
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

STATIC_JS = Path(st.__file__).resolve().parent / "static" / "static" / "js"
# The widgets the pages show that Streamlit loads lazily (the modules' names in its static files).
WIDGET_CHUNKS = (
    "NumberInput",
    "DateInput",
    "Radio",
    "TextInput",
    "TextArea",
    "Selectbox",
    "Multiselect",
    "Checkbox",
    "ButtonGroup",
    "Slider",
    "Metric",
    "DataFrame",
    "Progress",
    "PlotlyChart",
)
SESSION_KEY = "_konsens_widgets_warmed"
COMPONENT_KEY = "konsens_widget_warmup"

# Imports each module relative to Streamlit's own entry script (same URLs as its lazy imports),
# one after another when the browser is idle; a failure only means the widget loads on first use.
JS = """
export default function warm(component) {
  const chunks = (component.data && component.data.chunks) || [];
  if (!chunks.length || window.__konsensWidgetsWarmed) return;
  window.__konsensWidgetsWarmed = true;
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  const base = entry ? entry.src : new URL("static/js/", document.baseURI).href;
  const idle = window.requestIdleCallback || ((callback) => setTimeout(callback, 300));
  const next = (position) => {
    if (position >= chunks.length) return;
    idle(() => {
      import(new URL(chunks[position], base).href)
        .catch(() => undefined)
        .then(() => next(position + 1));
    }, { timeout: 3000 });
  };
  next(0);
}
"""
CSS = ":host { display: none; }"

_mount = st.components.v2.component("konsens_widget_warmup", js=JS, css=CSS)


def chunk_files(static_dir: Path = STATIC_JS, names: tuple[str, ...] = WIDGET_CHUNKS) -> list[str]:
    """Return the file name of each module in ``names`` (``NAME.HASH.js``) found in ``static_dir``, in order."""
    found: list[str] = []
    if not static_dir.is_dir():
        return found
    files = sorted(path.name for path in static_dir.glob("*.js"))
    for name in names:
        pattern = re.compile(rf"^{re.escape(name)}\.[A-Za-z0-9_-]+\.js$")
        found.extend(file for file in files if pattern.match(file))
    return found


_CHUNKS = chunk_files()


def warm_browser_widgets() -> bool:
    """Mount the warm-up element once in this session (in the sidebar); return whether it was mounted now."""
    if st.session_state.get(SESSION_KEY) or not _CHUNKS:
        return False
    st.session_state[SESSION_KEY] = True
    with st.sidebar:
        _mount(key=COMPONENT_KEY, data={"chunks": _CHUNKS})
    return True
