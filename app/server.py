"""Start the dashboard server (``streamlit run app/main.py``) with the pages' heavy imports warmed at once.

``streamlit run`` imports nothing of Konsens until the first browser session runs ``app/main.py``.
A browser that is still logged in (the login cookie) — an open tab reconnects within a second of a
restart — then opens its page cold and waits for seconds of imports (pandas, pandas-ta with numba,
Plotly, SQLAlchemy, Alembic). Started through this module — ``python -m app.server [streamlit
options]``, which ``konsens up`` and the Docker image do — the server process imports them first
(``app.ui.preload.preload_now``, about 2 s) and only then opens its port, so no session meets cold
modules; while the port opens, a thread imports every page script's own modules, warms Plotly,
freezes the heap (``freeze_heap``) and compiles the page scripts into Streamlit's script cache
(``app.ui.preload.start_page_warmup``, 1-2 s more while the login form shows). It also serves the
dashboard process's Prometheus metrics and exports its traces
(``core.observability.serve.start_dashboard_exports``). Sources are not watched for changes
(``--server.fileWatcherType none``, unless given), and Streamlit's config/secrets files are polled
every 5 s instead of every 0.2 s: that polling was most of the idle dashboard's CPU.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MAIN_SCRIPT = PROJECT_ROOT / "app" / "main.py"


def tls_options(options: list[str]) -> list[str]:
    """Return Streamlit's TLS options from ``KONSENS_TLS_CERT_FILE``/``KONSENS_TLS_KEY_FILE`` (if set and not given).

    Both files must exist; a missing one is a clear error at start, not a dashboard served in plain HTTP.
    """
    from core.config import get_settings

    settings = get_settings()
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return []
    if any(option.startswith(("--server.sslCertFile", "--server.sslKeyFile")) for option in options):
        return []
    for label, path in (
        ("KONSENS_TLS_CERT_FILE", settings.tls_cert_file),
        ("KONSENS_TLS_KEY_FILE", settings.tls_key_file),
    ):
        if not path.expanduser().is_file():
            raise SystemExit(f"error: {label} names {path}, which is not a file")
    return [
        "--server.sslCertFile",
        str(settings.tls_cert_file.expanduser()),
        "--server.sslKeyFile",
        str(settings.tls_key_file.expanduser()),
    ]


def watcher_options(options: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Return ``--server.fileWatcherType none`` unless the options or the environment choose a watcher.

    A served dashboard does not change its sources: Streamlit's default watcher (polling every
    module file of every session's script, ``watchdog`` is not installed) only costs CPU at rest.
    ``streamlit run app/main.py`` (development) keeps it.
    """
    environ = os.environ if environ is None else environ
    if any(option.startswith("--server.fileWatcherType") for option in options):
        return []
    if "STREAMLIT_SERVER_FILE_WATCHER_TYPE" in environ:
        return []
    return ["--server.fileWatcherType", "none"]


CONFIG_POLL_SECONDS = 5.0  # Streamlit's own: 0.2 s


def slow_config_polling(seconds: float = CONFIG_POLL_SECONDS) -> None:
    """Poll Streamlit's config and secrets files every ``seconds`` instead of five times a second.

    Streamlit watches ``config.toml`` (two places) and ``secrets.toml`` with its polling watcher
    whatever ``fileWatcherType`` says, each poll a task on a thread pool; at rest that was most of
    the dashboard's CPU. The period is a module global of ``streamlit.watcher.polling_path_watcher``
    read at every poll (``tests/app/test_server.py`` pins it, so a Streamlit upgrade that renames it
    fails there, not silently).
    """
    from streamlit.watcher import polling_path_watcher

    polling_path_watcher._POLLING_PERIOD_SECS = seconds  # type: ignore[misc]


def freeze_heap() -> int:
    """Move every object alive now out of the collector's view (``gc.freeze``); return how many.

    Streamlit runs a full collection (``gc.collect(2)``) after every script run, on the script's
    thread: with the imported libraries, that walked ~0.3 million objects each time, ~0.15-0.2 s of
    CPU holding the GIL while the run's last messages waited to be sent (issue 21: in every page's
    click-to-idle time, first open or not). What is alive after the preload (modules, classes,
    Plotly's validators, the ORM's mappers) lives for the whole process anyway; objects made
    later are still collected as before. Run by the page warm-up thread once it has imported the
    pages' modules (a session that started meanwhile keeps its objects collectable only by refcount).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def streamlit_arguments(options: list[str]) -> list[str]:
    """Return the ``streamlit`` command line that serves the dashboard with ``options`` (and TLS if configured)."""
    return ["streamlit", "run", str(MAIN_SCRIPT), *watcher_options(options), *options, *tls_options(options)]


def main(options: list[str] | None = None) -> None:
    """Import the pages' modules, then run the Streamlit server (returns when it stops)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from streamlit.web import cli

    from app.ui.preload import preload_now, start_page_warmup
    from core.config import ConfigurationError, check_startup

    try:
        check_startup()  # refuse unknown or invalid settings before the port opens
    except ConfigurationError as error:
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(2) from None

    preload_now()
    from core.observability.serve import start_dashboard_exports

    start_dashboard_exports()
    slow_config_polling()
    start_page_warmup(freeze=freeze_heap)  # the pages' own modules, then the freeze, while the port opens
    sys.argv = streamlit_arguments(sys.argv[1:] if options is None else options)
    cli.main()


if __name__ == "__main__":
    main()
