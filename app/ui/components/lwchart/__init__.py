"""TradingView Lightweight Charts (v5) as a Streamlit components-v2 element.

The front end (``frontend/src/index.js``) is bundled with esbuild into ``static/lwchart.js``,
which is committed, so neither CI nor users need npm. Rebuild after changing the source:
``cd app/ui/components/lwchart/frontend && npm ci && npm run build`` (also records the hashes in
``static/build.json``, which ``tests/app/test_lwchart_bundle.py`` checks).

The component is mounted with a stable key; later runs (a fragment refresh) only pass new data,
which the front end applies incrementally, so the chart keeps its zoom and scroll.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

STATIC = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC / "lwchart.js"
COMPONENT_NAME = "konsens_lwchart"
HISTORY_STATE = "history_before"

CSS = """
.konsens-lwchart { position: relative; width: 100%; }
.konsens-lwchart-plot { width: 100%; }
.konsens-lwchart-legend { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; min-height: 18px;
  color: var(--st-text-color, #d1d4dc); opacity: 0.85; padding: 0 0 4px 2px; }
.konsens-lwchart-tooltip { position: absolute; display: none; z-index: 5; max-width: 260px; white-space: pre-line;
  pointer-events: none; padding: 6px 8px; border-radius: 6px; font: 12px/1.4 sans-serif;
  background: rgba(20, 24, 33, 0.92); color: #e6e8ee; border: 1px solid rgba(139, 147, 167, 0.4); }
"""

_mount = st.components.v2.component(COMPONENT_NAME, js=BUNDLE.read_text(encoding="utf-8"), css=CSS)


def _ignore() -> None:
    return None


def price_chart(payload: dict[str, Any], *, key: str, on_history: Callable[[], None] | None = None) -> Any:
    """Mount (or update) the chart under ``key``; ``on_history`` runs when the user scrolls to the oldest bar.

    The component's state value ``history_before`` (read through ``st.session_state[key]``) is the
    oldest bar's time the user reached.
    """
    return _mount(
        key=key,
        data=payload,
        default={HISTORY_STATE: None},
        on_history_before_change=on_history or _ignore,
    )
