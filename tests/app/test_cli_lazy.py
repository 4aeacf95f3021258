"""The CLI finds its commands without importing their modules, and imports a command's modules only to run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from app.cli import cli
from app.cli.lazy import CommandScan, build_real_app, command_modules, scan_commands, scan_module

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "sqlalchemy", "alembic", "pandas_ta", "plotly", "core.ai.context", "core.tax.engine")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, env=None
    ).stdout
    return set(json.loads(output.strip().splitlines()[-1]))


def test_help_lists_every_command_without_importing_any_command_module() -> None:
    loaded = _modules_after(
        "from app.cli import cli\n"
        "from typer.main import get_command\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        get_command(cli).main(['--help'], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass"
    )
    assert not [name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY]
    assert not [name for name in command_modules() if name in loaded]


def test_scanned_commands_are_exactly_the_registered_ones() -> None:
    real = typer.main.get_command(build_real_app(command_modules()))
    scanned = scan_commands()
    assert scanned.unreadable_modules == []
    assert set(scanned.commands) == set(real.commands)  # type: ignore[attr-defined]


def test_running_a_command_imports_only_the_modules_that_declare_it() -> None:
    loaded = _modules_after(
        "from app.cli import cli\n"
        "from typer.main import get_command\n"
        "try:\n"
        "    get_command(cli).main(['user', '--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert "app.cli.user" in loaded
    assert "app.cli.backtest" not in loaded and "app.cli.tax" not in loaded


def test_help_of_a_group_and_an_unknown_command() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "--help"])
    assert result.exit_code == 0
    assert "candles" in result.output and "bitpanda" in result.output and "koinly" in result.output
    unknown = runner.invoke(cli, ["no-such-command"])
    assert unknown.exit_code == 2
    assert "No such command" in unknown.output


def test_scan_reads_decorators_groups_and_shared_groups() -> None:
    source = '''
import typer
from app.cli._common import import_group

things = typer.Typer(help="Things to do.\\n\\nMore text.")


def register(cli: typer.Typer) -> None:
    @cli.command("alpha")
    def alpha() -> None:
        """Do alpha."""

    @cli.command()
    def beta_gamma() -> None:
        """Do beta."""

    cli.add_typer(things, name="things")

    @import_group.command("widgets")
    def widgets() -> None:
        """Import widgets."""
'''
    scan = CommandScan()
    scan_module(source, "app.cli.example", scan, {"import_group": "import"})
    assert {name: entry.help for name, entry in scan.commands.items()} == {
        "alpha": "Do alpha.",
        "beta-gamma": "Do beta.",
        "things": "Things to do.",
        "import": "",
    }
    assert scan.unreadable_modules == []


def test_a_module_with_a_computed_command_name_is_imported_to_be_listed() -> None:
    source = '''
import typer

NAME = "computed"


def register(cli: typer.Typer) -> None:
    @cli.command(NAME)
    def computed() -> None:
        """Computed."""
'''
    scan = CommandScan()
    scan_module(source, "app.cli.computed", scan, {})
    assert scan.unreadable_modules == ["app.cli.computed"]


def test_a_command_whose_module_declares_only_it_runs(tmp_path: Path) -> None:
    # `worker` is the only command of its module: its Typer app must still be a group.
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    assert "--once" in result.output


def test_running_a_command_parses_only_the_modules_that_mention_it() -> None:
    from app.cli.lazy import LazyGroup

    full = scan_commands()
    for name, declared in full.commands.items():
        partial = scan_commands(only_mentioning=name)
        assert partial.commands[name].modules == declared.modules, name
    # `order` is mentioned by a few of the modules only: the others are not parsed to run it.
    mentioning = [
        module for module in command_modules() if "order" in (ROOT / f"{module.replace('.', '/')}.py").read_text()
    ]
    assert 0 < len(mentioning) < len(command_modules())
    group = LazyGroup(name="konsens")
    command = group.load("order")
    assert command is not None and group._scan is None  # resolved without the full scan
    assert group.load("no-such-command") is None and group._scan is not None
