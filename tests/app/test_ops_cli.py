"""`konsens metrics | backup | restore | doctor` and the /metrics ports of `konsens up`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.cli.up import metrics_ports
from core.db.engine import Database

runner = CliRunner()


def test_metrics_prints_the_database_state_when_no_process_answers(configured_sqlite: Database) -> None:
    result = runner.invoke(cli, ["metrics", "--local"])
    assert result.exit_code == 0, result.output
    assert "# database state (read by this command)" in result.output
    assert "konsens_state_up 1.0" in result.output


def test_metrics_asks_each_process_and_says_which_do_not_answer(
    configured_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSENS_METRICS_BASE_PORT", "1")  # nothing listens on ports 1..9
    result = runner.invoke(cli, ["metrics", "--timeout", "0.2"])
    assert result.exit_code == 0, result.output
    assert "# dashboard: not answering at http://" in result.output
    assert "# market: not answering" in result.output
    assert "konsens_state_up" in result.output


def test_backup_then_restore_into_a_fresh_home(
    configured_sqlite: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_settings: Path
) -> None:
    backup = runner.invoke(cli, ["backup", "--output", str(tmp_path / "out")])
    assert backup.exit_code == 0, backup.output
    [archive] = list((tmp_path / "out").glob("konsens-backup-*.tar.gz"))
    assert f"Backup written: {archive}" in backup.output

    from core.config import get_settings
    from core.db.engine import reset_database_cache

    fresh = tmp_path / "fresh-home"
    monkeypatch.setenv("KONSENS_HOME", str(fresh))
    monkeypatch.setenv("KONSENS_DATABASE_URL", f"sqlite:///{fresh / 'konsens.db'}")
    get_settings.cache_clear()
    reset_database_cache()
    restored = runner.invoke(cli, ["restore", str(archive)])
    assert restored.exit_code == 0, restored.output
    assert "Row counts and the audit chain match the manifest." in restored.output

    again = runner.invoke(cli, ["restore", str(archive)])  # the restored copy holds no rows: still empty
    assert again.exit_code == 0, again.output


def test_a_corrupted_archive_is_refused_in_one_line(configured_sqlite: Database, tmp_path: Path) -> None:
    bad = tmp_path / "konsens-backup-bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = runner.invoke(cli, ["restore", str(bad)])
    assert result.exit_code == 1
    assert "error: restore refused: archive is corrupted or not a Konsens backup" in result.output
    assert "Traceback" not in result.output


def test_doctor_reports_and_exits_non_zero_on_a_problem(configured_sqlite: Database, isolated_settings: Path) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    key = isolated_settings / "secret.key"
    key.write_text("k")
    key.chmod(0o644)
    result = runner.invoke(cli, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "[FAIL] key files:" in result.output and f"fix: chmod 600 {key}" in result.output
    assert "[ok  ] migrations: the schema is up to date" in result.output


def test_up_assigns_one_metrics_port_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_METRICS_PORT", "7000")  # a per-process override never leaks into up's table
    ports = metrics_ports(["market", "executor", "custom"], ["custom", "executor", "market"], dashboard=True)
    assert ports == {"dashboard": 9460, "market": 9461, "executor": 9464, "custom": 9480}
    monkeypatch.setenv("KONSENS_METRICS_ENABLED", "false")
    assert metrics_ports(["market"], ["market"], dashboard=True) == {}
