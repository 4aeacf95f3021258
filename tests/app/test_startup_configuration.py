"""Start-up refuses unknown or invalid settings: the CLI, every worker, the dashboard and its launcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from app import server
from app.cli import cli
from app.ui import configuration
from core.db.engine import Database
from core.system.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
SUGGESTION = "unknown setting KONSENS_DAILY_LOS_LIMIT_PCT; did you mean KONSENS_DAILY_LOSS_LIMIT_PCT? (environment)"
runner = CliRunner()


def test_a_misspelt_variable_stops_every_cli_command_with_a_suggestion(
    configured_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_DAILY_LOS_LIMIT_PCT", "2")
    result = runner.invoke(cli, ["db", "status"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {SUGGESTION}"


def test_a_misspelt_variable_stops_a_worker_before_its_first_pass(
    configured_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_DAILY_LOS_LIMIT_PCT", "2")
    result = runner.invoke(cli, ["worker", "risk", "--once"])
    assert result.exit_code == 2 and SUGGESTION in result.output
    with configured_sqlite.session() as session:
        assert session.scalars(select(WorkerHeartbeat)).all() == []  # nothing ran
    monkeypatch.delenv("KONSENS_DAILY_LOS_LIMIT_PCT")
    monkeypatch.setenv("KONSENS_DAILY_LOSS_LIMIT_PCT", "0.02")  # spelt right: it starts
    assert runner.invoke(cli, ["worker", "--help"]).exit_code == 0
    assert runner.invoke(cli, ["db", "status"]).exit_code == 0


def test_a_misspelt_variable_stops_the_real_command_line_process(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KONSENS_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "status"],
        cwd=ROOT,
        env=env | {"KONSENS_DAILY_LOS_LIMIT_PCT": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {SUGGESTION}"
    assert not (tmp_path / "konsens.db").exists()  # refused before the database was touched


def test_the_dashboard_shows_only_the_configuration_error(
    demo_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_DAILY_LOS_LIMIT_PCT", "2")
    configuration.configuration_problem.cache_clear()
    try:
        app = AppTest.from_file(MAIN, default_timeout=60).run()
    finally:
        configuration.configuration_problem.cache_clear()
    assert not app.exception, [item.value for item in app.exception]
    assert [item.value for item in app.error] == [
        f"Konsens cannot start: {SUGGESTION}. Fix the setting and restart the dashboard."
    ]
    assert not app.text_input  # no login form


def test_the_dashboard_launcher_refuses_before_streamlit_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamlit.web import cli as streamlit_cli

    served: list[bool] = []
    monkeypatch.setattr(streamlit_cli, "main", lambda: served.append(True))
    monkeypatch.setenv("KONSENS_DAILY_LOS_LIMIT_PCT", "2")
    with pytest.raises(SystemExit) as stopped:
        server.main(["--server.port", "8598"])
    assert stopped.value.code == 2 and served == []
    assert capsys.readouterr().err.strip() == f"error: {SUGGESTION}"


def test_konsens_settings_lists_every_variable_with_its_toml_key_and_default(configured_sqlite: Database) -> None:
    import json

    from core.config import settings_classes

    result = runner.invoke(cli, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["env_name"]: row for row in json.loads(result.output)}
    assert set(rows) == {name for cls in settings_classes() for name in cls.env_names()}
    assert rows["KONSENS_DAILY_LOSS_LIMIT_PCT"] | {"description": ""} == {
        "section": "risk_limits",
        "env_name": "KONSENS_DAILY_LOSS_LIMIT_PCT",
        "toml_key": "risk.daily_loss_limit_pct",
        "default": "0.05",
        "description": "",
    }
    assert rows["KONSENS_TRADING_PAPER_SLIPPAGE"]["toml_key"] == "trading.paper_slippage"
    text = runner.invoke(cli, ["settings"]).output
    assert "[risk_limits]" in text and "KONSENS_TAX_FIFO_2022" in text
