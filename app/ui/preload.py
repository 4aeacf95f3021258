"""Warm the heavy imports in the background when the server starts, so the first page is fast.

Importing pandas-ta (with numba), Plotly and the page services costs seconds on a small machine.
The server launcher (``python -m app.server``) runs it with ``preload_now`` before the server
opens its port, so no session ever meets cold modules; under a plain ``streamlit run``,
``start_preload_once`` runs it in a daemon thread the first time ``app/main.py`` runs (while the
user looks at the login form).
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

_started = threading.Event()
_finished = threading.Event()


def preload() -> float:
    """Import the modules the pages need and run one tiny indicator pass; return the seconds taken."""
    started = time.perf_counter()
    import numpy as np
    import pandas as pd

    import app.ui.figures
    import app.ui.tables  # noqa: F401
    import core.charts.data
    import core.portfolio.valuation
    import core.system.status  # noqa: F401
    from core.analysis.indicators import IndicatorKind, IndicatorSpec, compute_indicators

    index = pd.date_range("2024-01-01", periods=60, freq="1h", tz="UTC")
    close = np.linspace(100.0, 110.0, 60)
    frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0}, index)
    compute_indicators(frame, [IndicatorSpec(kind, 14) for kind in IndicatorKind])
    pd.DataFrame({"value": [1.0]}).style.map(lambda _value: "")._compute()  # pandas Styler (jinja2)
    return time.perf_counter() - started


def _run() -> None:
    try:
        seconds = preload()
        logger.info("Preloaded the dashboard modules in %.1f s", seconds)
    except Exception as error:  # a failed warm-up only costs speed; the pages import what they need
        logger.warning("Preloading the dashboard modules failed: %s", error)
    finally:
        _finished.set()


def start_preload_once() -> None:
    """Start the background preload the first time it is called in this process."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_run, name="konsens-preload", daemon=True).start()


def preload_now() -> None:
    """Run the preload in this thread unless it has started already (the server launcher, before serving)."""
    if _started.is_set():
        return
    _started.set()
    _run()


def wait_for_preload(timeout: float | None = None) -> bool:
    """Block until the background preload has finished (for benchmarks); return whether it did."""
    return _finished.wait(timeout)
