"""``konsens backtest --strategy-file``, ``$KONSENS_HOME/strategies`` and ``konsens backtest-lookahead``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from core.backtest.user_strategies import load_catalog, register_catalog
from core.config import get_settings
from core.db.engine import Database
from tests.core.backtest import user_files
from tests.shared_data import SharedFolder

DATA = SharedFolder("ohlcv")
runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured_sqlite: Database) -> object:
    monkeypatch.setenv("KONSENS_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    register_catalog(load_catalog(None))
    get_settings.cache_clear()


def test_a_strategy_in_the_home_directory_backtests_by_name_and_a_broken_neighbour_is_a_warning(home: Path) -> None:
    user_files.write(home / "strategies", "momentum.py", user_files.GOOD)
    broken = user_files.write(home / "strategies", "broken.py", user_files.SYNTAX_ERROR)
    result = runner.invoke(cli, ["backtest", "momentum", "--data", str(DATA / "GOOG_1d.csv"), "--no-store", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["strategy"] == "momentum"
    assert f"warning: strategy file refused: {broken}, line 7: syntax error" in result.stderr


def test_a_given_strategy_file_that_is_refused_stops_the_command(home: Path, tmp_path: Path) -> None:
    path = user_files.write(tmp_path, "bad.py", user_files.IMPORT_ERROR)
    result = runner.invoke(
        cli, ["backtest", "x", "--strategy-file", str(path), "--data", str(DATA / "GOOG_1d.csv"), "--no-store"]
    )
    assert result.exit_code == 1
    assert f"error: strategy file refused: {path}, line 7: importing it raised ModuleNotFoundError" in result.stderr


def test_a_raising_strategy_fails_the_backtest_with_file_and_line(home: Path, tmp_path: Path) -> None:
    path = user_files.write(tmp_path, "raises.py", user_files.RAISES)
    result = runner.invoke(
        cli, ["backtest", "raises", "--strategy-file", str(path), "--data", str(DATA / "GOOG_1d.csv")]
    )
    assert result.exit_code == 1
    assert f"({path}, line {user_files.line_of(path, 'raise ZeroDivisionError')}): on_bar at candle 30" in result.stderr
    assert json.loads(runner.invoke(cli, ["backtest-runs", "--json"]).stdout) == []  # nothing stored


def test_lookahead_on_a_file_reports_the_peeking_indicator_and_exits_3(home: Path, tmp_path: Path) -> None:
    path = user_files.write(tmp_path, "peek.py", user_files.PEEK_SHIFT)
    result = runner.invoke(cli, ["backtest-lookahead", str(path), "--data", str(DATA / "GOOG_1d.csv"), "--json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["clean"] is False
    assert {finding["name"] for finding in report["findings"] if finding["kind"] == "indicator"} == {"next_close"}
    assert all(finding["candle"] == finding["cut"] - 1 for finding in report["findings"])


def test_lookahead_on_a_built_in_is_clean(home: Path) -> None:
    result = runner.invoke(cli, ["backtest-lookahead", "bollinger-breakout", "--data", str(DATA / "SPY_1d.csv")])
    assert result.exit_code == 0, result.output
    assert "no look-ahead" in result.stdout


def test_strategy_enable_list_disable(demo_database: Database) -> None:
    enabled = runner.invoke(
        cli,
        [
            "strategy",
            "enable",
            "sma-cross",
            "--symbol",
            "BTC/EUR",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--fraction",
            "0.2",
        ],
    )
    assert enabled.exit_code == 0, enabled.output
    assert "Strategy source 1: sma-cross {'fast': 5, 'slow': 20} on BTC/EUR 1h, paper orders" in enabled.stdout
    listed = json.loads(runner.invoke(cli, ["strategy", "list", "--json"]).stdout)
    (source,) = listed["sources"]
    assert source["enabled"] is True and source["position_fraction"] == "0.2" and source["live"] is False
    off = runner.invoke(cli, ["strategy", "disable", "sma-cross", "--symbol", "BTC/EUR"])
    assert off.exit_code == 0 and "switched off" in off.stdout
    assert json.loads(runner.invoke(cli, ["strategy", "list", "--json"]).stdout)["sources"][0]["enabled"] is False


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["enable", "sma-cross", "--symbol", "NOPE/EUR"], "no instrument 'NOPE/EUR' in the database"),
        (["enable", "nope", "--symbol", "BTC/EUR"], "unknown strategy 'nope'"),
        (["enable", "sma-cross", "--symbol", "BTC/EUR", "--fraction", "x"], "--fraction must be a number"),
        (["enable", "sma-cross", "--symbol", "BTC/EUR", "--fraction", "2"], "position fraction must be in (0, 1]"),
        (["disable", "sma-cross"], "strategy sma-cross is not a signal source"),
        (["disable", "7"], "no strategy source 7"),
    ],
)
def test_strategy_commands_refuse_bad_input(demo_database: Database, arguments: list[str], message: str) -> None:
    result = runner.invoke(cli, ["strategy", *arguments])
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_sweep_over_a_strategy_file(home: Path, tmp_path: Path) -> None:
    path = user_files.write(tmp_path, "momentum.py", user_files.GOOD)
    result = runner.invoke(
        cli,
        [
            "backtest-sweep",
            "momentum",
            "--strategy-file",
            str(path),
            "--data",
            str(DATA / "GOOG_1d.csv"),
            "--grid",
            "lookback=3,5,8",
            "--no-store",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(row["lookback"] for row in json.loads(result.stdout)["rows"]) == [3, 5, 8]
