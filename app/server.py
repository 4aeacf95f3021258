"""Start the dashboard server (``streamlit run app/main.py``) with the pages' heavy imports warmed at once.

``streamlit run`` imports nothing of Konsens until the first browser session runs ``app/main.py``.
A browser that is still logged in (the login cookie) — an open tab reconnects within a second of a
restart — then opens its page cold and waits for seconds of imports (pandas, pandas-ta with numba,
Plotly, SQLAlchemy, Alembic). Started through this module — ``python -m app.server [streamlit
options]``, which ``konsens up`` and the Docker image do — the server process imports them first
(``app.ui.preload.preload_now``, about 2 s) and only then opens its port, so no session meets cold
modules. It also serves the dashboard process's Prometheus metrics and exports its traces
(``core.observability.serve.start_dashboard_exports``).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MAIN_SCRIPT = PROJECT_ROOT / "app" / "main.py"


def streamlit_arguments(options: list[str]) -> list[str]:
    """Return the ``streamlit`` command line that serves the dashboard with ``options``."""
    return ["streamlit", "run", str(MAIN_SCRIPT), *options]


def main(options: list[str] | None = None) -> None:
    """Import the pages' modules, then run the Streamlit server (returns when it stops)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from streamlit.web import cli

    from app.ui.preload import preload_now
    from core.config import ConfigurationError, check_startup

    try:
        check_startup()  # refuse unknown or invalid settings before the port opens
    except ConfigurationError as error:
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(2) from None

    preload_now()
    from core.observability.serve import start_dashboard_exports

    start_dashboard_exports()
    sys.argv = streamlit_arguments(sys.argv[1:] if options is None else options)
    cli.main()


if __name__ == "__main__":
    main()
