from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database

runner = CliRunner()


def test_db_upgrade_and_status(configured_sqlite: Database) -> None:
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "Database sqlite is at" in result.output
    status = runner.invoke(cli, ["db", "status"])
    assert status.exit_code == 0
    assert "pending: (none)" in status.output


def test_demo_if_empty_seeds_only_an_empty_database(configured_sqlite: Database) -> None:
    first = runner.invoke(cli, ["demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "Demo data ready" in first.output
    second = runner.invoke(cli, ["demo", "--if-empty"])
    assert second.exit_code == 0
    assert "no demo data seeded" in second.output


def test_unknown_worker_is_one_clear_error(configured_sqlite: Database) -> None:
    result = runner.invoke(cli, ["worker", "no-such-worker", "--once"])
    assert result.exit_code == 1
    assert "unknown worker" in result.output
