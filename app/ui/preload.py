"""Warm what every page's first open would otherwise pay for, before a user clicks (issue 21).

A page's first open in a server process used to import its own modules (the Backtest page's
charts, the strategy lab, the Risk figures and services, their ORM models: about 0.5 s on the
2-core machine), set up Plotly's validators and JSON encoding for each kind of figure it draws,
configure the ORM mappers of the models it imported, and have Streamlit compile (and rewrite for
"magic") the page script. None of that depends on the data, so it is done once per process:

- ``preload`` imports the heavy libraries and the services every page uses and runs one tiny
  indicator pass (the server launcher, ``python -m app.server``, runs it with ``preload_now``
  before the server opens its port, so no session ever meets cold modules);
- ``preload_pages`` imports every module a page script imports at its top level
  (``page_modules``: read from ``pages/*.py``, so a new import of a page is warmed without a list
  to keep in sync), configures the ORM mappers and builds and serialises one of each Plotly
  figure the Backtest and Risk pages draw on a few synthetic points, as ``st.plotly_chart`` does
  (``warm_figures``);
- ``warm_page_scripts`` compiles ``app/main.py`` and every page into the running Streamlit
  server's script cache.

The launcher runs the last two in a thread while the port opens (``start_page_warmup``, with the
heap freeze of ``app/server.py`` between them), so the dashboard answers as soon as before; under
a plain ``streamlit run``, ``start_preload_once`` runs ``preload`` and ``preload_pages`` in a daemon
thread the first time ``app/main.py`` runs (while the user looks at the login form).
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = PROJECT_ROOT / "pages"
MAIN_SCRIPT = PROJECT_ROOT / "app" / "main.py"
RUNTIME_WAIT_SECONDS = 120.0

_started = threading.Event()
_finished = threading.Event()
_scripts_warmed = threading.Event()
_pages_warmed = threading.Event()


def page_modules(pages_dir: Path = PAGES_DIR) -> list[str]:
    """Return the modules the page scripts import at their top level, each once, in file order.

    Absolute imports only (``import x``, ``from x import y``); imports inside functions are the
    ones a page defers on purpose and stay deferred.
    """
    names: list[str] = []
    for page in sorted(pages_dir.glob("*.py")):
        tree = ast.parse(page.read_text(encoding="utf-8"), filename=str(page))
        for node in tree.body:
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module]
            else:
                continue
            names.extend(name for name in found if name not in names and name != "__future__")
    return names


def import_modules(names: Iterable[str]) -> list[str]:
    """Import each of ``names``; return those that failed (logged: that page reports it when opened)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            logger.warning("Could not import %s ahead of its page: %s", name, error)
            failed.append(name)
    return failed


def warm_figures() -> int:
    """Build one of each Plotly figure the Backtest and Risk pages draw, on synthetic points, and
    serialise it as ``st.plotly_chart`` does; return how many were built.

    Plotly creates the validators of each trace type and layout part on first use, and its JSON
    encoder sets itself up on the first figure: tens of milliseconds per kind of figure that a
    page's first open paid for. The figures are built by the pages' own functions, so a figure
    added to them is warmed too.
    """
    import numpy as np
    import pandas as pd
    import plotly.io
    import plotly.tools

    from app.ui.backtest_charts import comparison_figure, equity_figure, heatmap_figure
    from app.ui.risk_figures import distribution_figure, drawdown_figure, exposure_figure
    from core.risk.service import ExposureRow

    index = pd.date_range("2024-01-01", periods=24, freq="1D", tz="UTC")
    values = pd.Series(np.linspace(100.0, 90.0, 24), index=index)
    returns = values.pct_change().dropna()
    equity = pd.DataFrame({"equity": values, "baseline": values[::-1].to_numpy()}, index=index)
    grid = pd.DataFrame([[0.1, 0.2], [0.3, float("nan")]], index=[2, 1], columns=[5, 10])
    figures = [
        equity_figure(equity, 100.0),
        comparison_figure({"a": values}),
        heatmap_figure(grid, "fast", "slow", "sharpe"),
        drawdown_figure(values / values.cummax() - 1),
        distribution_figure(returns, {"VaR 95": -0.01, "VaR 99": -0.02, "CVaR 99": -0.03}),
        exposure_figure([ExposureRow("BTC/EUR", "crypto", Decimal("1000.00"), 0.5)]),
    ]
    for figure in figures:
        checked = plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True)
        plotly.io.to_json(checked, validate=False)
    return len(figures)


def preload() -> float:
    """Import the heavy libraries and the services every page uses; return the seconds taken."""
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


def preload_pages() -> float:
    """Import every page script's own modules, configure the ORM, warm Plotly; return the seconds taken."""
    started = time.perf_counter()
    import_modules(page_modules())
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # the models the pages imported: else the first query of a page does it
    warm_figures()
    return time.perf_counter() - started


def page_scripts(pages_dir: Path = PAGES_DIR) -> list[Path]:
    """The scripts a session runs: ``app/main.py`` and every page."""
    return [MAIN_SCRIPT, *sorted(pages_dir.glob("*.py"))]


def warm_page_scripts(script_cache: Any, scripts: Iterable[Path] | None = None) -> int:
    """Compile ``scripts`` (default: ``page_scripts()``) into Streamlit's ``ScriptCache``; return how many.

    Streamlit compiles a page (reading it, rewriting it for "magic", ``compile``) on its first run
    in the process and keeps the bytecode per absolute path: the Backtest page's 530 lines cost
    ~0.1 s of its first open. A script that does not compile is left for its first run to report.
    """
    count = 0
    for script in page_scripts() if scripts is None else scripts:
        try:
            script_cache.get_bytecode(str(script))
        except Exception as error:  # its first run shows the error to the user, as without the warm-up
            logger.warning("Could not compile %s ahead of its first run: %s", script, error)
        else:
            count += 1
    return count


def _warm_pages_when_serving(freeze: Callable[[], object] | None, timeout: float) -> None:
    from streamlit import runtime

    try:
        try:
            seconds = preload_pages()
            logger.info("Preloaded the pages' modules in %.1f s", seconds)
        except Exception as error:  # a failed warm-up only costs speed; the pages import what they need
            logger.warning("Preloading the pages' modules failed: %s", error)
        if freeze is not None:
            freeze()
        _pages_warmed.set()
        deadline = time.monotonic() + timeout
        while not runtime.exists():
            if time.monotonic() > deadline:
                logger.warning("The Streamlit runtime did not start within %.0f s: page scripts not warmed", timeout)
                return
            time.sleep(0.05)
        started = time.perf_counter()
        count = warm_page_scripts(runtime.get_instance()._script_cache)
        logger.info("Compiled %d page scripts in %.2f s", count, time.perf_counter() - started)
    finally:
        _pages_warmed.set()
        _scripts_warmed.set()


def start_page_warmup(
    freeze: Callable[[], object] | None = None, timeout: float = RUNTIME_WAIT_SECONDS
) -> threading.Thread:
    """Warm the pages in a daemon thread while the server starts serving (the launcher, after ``preload_now``).

    ``preload_pages``, then ``freeze`` (the launcher's ``gc.freeze``), then, as soon as the
    server's runtime exists, the page scripts into its script cache. Done after the port opens,
    so the dashboard answers as soon as before (``bench/footprint.py``: healthy within 15 s of
    ``konsens up``); it takes 1-2 s, while the login form shows.
    """
    thread = threading.Thread(
        target=_warm_pages_when_serving, args=(freeze, timeout), name="konsens-page-warmup", daemon=True
    )
    thread.start()
    return thread


def wait_for_page_warmup(timeout: float | None = None) -> bool:
    """Block until the pages' modules are warmed (and the heap frozen); return whether they are."""
    return _pages_warmed.wait(timeout)


def _run(*, pages: bool = False) -> None:
    try:
        seconds = preload() + (preload_pages() if pages else 0.0)
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
    threading.Thread(target=_run, kwargs={"pages": True}, name="konsens-preload", daemon=True).start()


def preload_now() -> None:
    """Run the preload in this thread unless it has started already (the server launcher, before serving)."""
    if _started.is_set():
        return
    _started.set()
    _run()


def wait_for_preload(timeout: float | None = None) -> bool:
    """Block until the background preload has finished (for benchmarks); return whether it did."""
    return _finished.wait(timeout)
