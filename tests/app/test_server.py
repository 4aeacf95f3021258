"""The dashboard launcher: Streamlit's own command line, with the page imports warmed before it serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import server
from app.ui import preload


def test_the_launcher_preloads_then_runs_streamlit_on_app_main(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMLIT_SERVER_FILE_WATCHER_TYPE", raising=False)
    seen: dict[str, object] = {}

    def fake_streamlit_main() -> None:
        seen["argv"] = list(sys.argv)
        seen["preloaded"] = preload._finished.is_set()

    from streamlit.web import cli

    steps: list[str] = []
    monkeypatch.setattr(cli, "main", fake_streamlit_main)
    # the page warm-up thread (with the heap freeze) is tested on its own (a fresh process, below)
    monkeypatch.setattr(
        preload,
        "start_page_warmup",
        lambda freeze: steps.append(f"page warm-up after preload: {preload._finished.is_set()}, {freeze.__name__}"),
    )
    monkeypatch.setattr(preload, "_started", type(preload._started)())
    monkeypatch.setattr(preload, "_finished", type(preload._finished)())
    monkeypatch.setattr(sys, "argv", ["app.server"])
    server.main(["--server.port", "8599", "--server.headless", "true"])
    assert seen == {
        "argv": [
            "streamlit",
            "run",
            str(server.MAIN_SCRIPT),
            "--server.fileWatcherType",
            "none",
            "--server.port",
            "8599",
            "--server.headless",
            "true",
        ],
        "preloaded": True,
    }
    assert steps == ["page warm-up after preload: True, freeze_heap"]
    assert server.MAIN_SCRIPT.name == "main.py" and (server.PROJECT_ROOT / "pages").is_dir()


def test_a_fresh_launcher_process_has_the_pages_modules_imported_before_streamlit_serves() -> None:
    """In a new interpreter (this test process has imported everything already)."""
    probe = (
        "import gc, sys\n"
        "from streamlit.web import cli\n"
        "def serve():\n"
        "    print(sorted(name for name in ('pandas_ta', 'plotly', 'app.ui.figures', 'core.charts.data')"
        " if name in sys.modules))\n"
        "    from app.ui.preload import page_modules, wait_for_page_warmup\n"
        "    wait_for_page_warmup(180)\n"
        "    print([name for name in page_modules() if name not in sys.modules])\n"
        "    from core.db.base import Base\n"
        "    print(Base.registry._new_mappers, gc.get_freeze_count() > 100_000, len(gc.get_objects()) < 50_000)\n"
        "cli.main = serve\n"
        "before = [name for name in ('pandas_ta', 'app.ui.backtest_charts', 'core.risk.service')"
        " if name in sys.modules]\n"
        "from app import server\n"
        "server.main([])\n"
        "print(before)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=server.PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=240
    ).stdout.split("\n")
    assert output[0] == "['app.ui.figures', 'core.charts.data', 'pandas_ta', 'plotly']"
    assert output[1] == "[]"  # every module a page imports at its top level (the Backtest page's charts, ...)
    # the ORM mappers are configured, and the heap alive after the preload is frozen: Streamlit's
    # gc.collect(2) after each script run walks only what was made since
    assert output[2] == "False True True"
    assert output[3] == "[]"  # nothing of it was there before the launcher ran


def test_tls_files_from_the_settings_become_streamlit_ssl_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.config import get_settings

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    monkeypatch.setenv("KONSENS_TLS_CERT_FILE", str(cert))
    monkeypatch.setenv("KONSENS_TLS_KEY_FILE", str(key))
    get_settings.cache_clear()
    arguments = server.streamlit_arguments(["--server.port", "8599"])
    assert arguments[-4:] == ["--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key)]
    # Options given on the command line win.
    given = ["--server.sslCertFile=/x.pem", "--server.sslKeyFile=/y.pem"]
    assert server.streamlit_arguments(given)[-2:] == given
    key.unlink()
    with pytest.raises(SystemExit, match="KONSENS_TLS_KEY_FILE names"):
        server.streamlit_arguments([])
    get_settings.cache_clear()


def test_only_one_tls_file_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from core.config import Settings

    monkeypatch.setenv("KONSENS_TLS_CERT_FILE", "/etc/konsens/cert.pem")
    with pytest.raises(ValidationError, match="must be set together"):
        Settings()


def test_the_served_dashboard_does_not_watch_its_sources_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit's polling file watcher costs CPU at rest; a served dashboard does not change its sources."""
    monkeypatch.delenv("STREAMLIT_SERVER_FILE_WATCHER_TYPE", raising=False)
    arguments = server.streamlit_arguments(["--server.port", "8599"])
    at = arguments.index("--server.fileWatcherType")
    assert arguments[at + 1] == "none"
    assert server.watcher_options(["--server.fileWatcherType=poll"]) == []
    assert server.watcher_options(["--server.fileWatcherType", "watchdog"]) == []
    assert server.watcher_options([], {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "auto"}) == []
    assert server.watcher_options([], {}) == ["--server.fileWatcherType", "none"]


def test_streamlit_s_config_file_polling_is_slowed_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The period is a private module global of Streamlit: pinned here, so an upgrade that renames it fails."""
    from streamlit.watcher import polling_path_watcher

    assert polling_path_watcher._POLLING_PERIOD_SECS in (0.2, server.CONFIG_POLL_SECONDS)
    monkeypatch.setattr(polling_path_watcher, "_POLLING_PERIOD_SECS", 0.2)
    server.slow_config_polling()
    assert polling_path_watcher._POLLING_PERIOD_SECS == server.CONFIG_POLL_SECONDS
    import inspect

    task_source = inspect.getsource(polling_path_watcher.PollingPathWatcher._schedule)
    assert "time.sleep(_POLLING_PERIOD_SECS)" in task_source  # read at every poll, so the new value counts
