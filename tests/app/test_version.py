from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.cli.version import project_version

ROOT = Path(__file__).resolve().parents[2]


def test_version_option_prints_the_project_version_and_exits() -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"konsens {expected}"
    assert project_version() == expected


def test_commands_still_run_after_the_global_options() -> None:
    result = CliRunner().invoke(cli, ["worker", "no-such-worker", "--once"])
    assert result.exit_code == 1
    assert "unknown worker" in result.output
