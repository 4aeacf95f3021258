"""``konsens backtest`` / ``backtest-sweep`` / ``backtest-runs`` end to end (real files, real database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from tests.shared_data import SharedFolder

DATA = SharedFolder("ohlcv")  # the shared real-world files: skipped if missing, failed under CI
runner = CliRunner()


def test_backtest_json_holds_trades_and_metrics(configured_sqlite: Database) -> None:
    result = runner.invoke(
        cli,
        [
            "backtest",
            "sma-cross",
            "--data",
            str(DATA / "ORCL_1d.csv"),
            "--param",
            "fast=10",
            "--param",
            "slow=40",
            "--fee-bps",
            "12",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["parameters"] == {"fast": 10, "slow": 40} and data["config"]["fee_bps"] == 12.0
    assert data["timeframe"] == "1d" and data["candles"] == 5036
    trade = data["trades"][0]
    assert trade["side"] == "buy"
    assert trade["entry_time"].startswith("1995-") and trade["exit_time"] > trade["entry_time"]
    assert trade["entry_price"] > 0 and trade["exit_price"] > 0 and trade["quantity"] > 0
    assert {"sharpe", "sortino", "max_drawdown", "cagr", "total_return", "trades"} <= set(data["metrics"])
    assert data["metrics"]["trades"] == len(data["trades"])
    assert data["run_id"] == 1
    # Total and kernel seconds apart; the parts add up to no more than the total since the process began.
    timing = data["timing"]
    assert set(timing) == {
        "total_seconds",
        "load_seconds",
        "kernel_seconds",
        "results_seconds",
        "database_seconds",
        "store_seconds",
    }
    assert timing["kernel_seconds"] == data["seconds"] > 0 and timing["store_seconds"] > 0
    parts = sum(value for name, value in timing.items() if name != "total_seconds")
    assert all(value >= 0 for value in timing.values()) and parts <= timing["total_seconds"] + 0.05
    assert result.stdout.count("\n") == 1  # piped: one line of JSON
    listed = runner.invoke(cli, ["backtest-runs", "--json"])
    assert json.loads(listed.stdout)[0]["data_label"] == "ORCL_1d.csv"
    assert json.loads(listed.stdout)[0]["trades"] == len(data["trades"])


def test_engines_agree_through_the_cli(configured_sqlite: Database) -> None:
    outputs = []
    for engine in ("event", "fast", "backtrader"):
        result = runner.invoke(
            cli,
            ["backtest", "sma-cross", "--data", str(DATA / "GOOG_1d.csv"), "--engine", engine, "--no-store", "--json"],
        )
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout)["trades"])
    entries = [[(trade["entry_time"], trade["exit_time"]) for trade in trades] for trades in outputs]
    assert entries[0] == entries[1] == entries[2]


def test_backtest_on_stored_candles_by_symbol(demo_database: Database) -> None:
    result = runner.invoke(cli, ["backtest", "rsi-reversion", "--data", "BTC/EUR", "--timeframe", "4h", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["data"] == "BTC/EUR" and data["timeframe"] == "4h" and data["trades"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["backtest", "sma-cross", "--data", "/nope/x.csv"], "no such file"),
        (["backtest", "sma-cross", "--data", "ORCL", "--no-store"], "no instrument 'ORCL'"),
        (["backtest", "macd", "--data", "x.csv"], "unknown strategy 'macd'"),
        (["backtest", "sma-cross", "--data", "x.csv", "--param", "fast"], "--param takes name=value"),
        (["backtest", "sma-cross", "--data", "x.csv", "--fee-bps", "-3"], "fee must be between"),
    ],
)
def test_bad_input_gives_one_clear_message(configured_sqlite: Database, arguments: list[str], message: str) -> None:
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_sweep_prints_the_ranking_and_stores_it(configured_sqlite: Database) -> None:
    result = runner.invoke(
        cli,
        [
            "backtest-sweep",
            "sma-cross",
            "--data",
            str(DATA / "SPY_1d.csv"),
            "--grid",
            "fast=5:15:5",
            "--grid",
            "slow=50,100",
            "--metric",
            "total_return",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["rows"]) == 6
    returns = [row["total_return"] for row in data["rows"]]
    assert returns == sorted(returns, reverse=True)
    assert data["warning"].startswith("In-sample: the best total_return")


def test_replay_command_runs_the_executor_and_agrees_with_the_backtest(demo_database: Database, tmp_path: Path) -> None:
    from core.backtest.service import load_bars

    with demo_database.session() as session:
        bars = load_bars(session, "ETH/EUR", "1h")
    start = bars.index[-120].isoformat()
    target = f"sqlite:///{tmp_path / 'replay.db'}"
    result = runner.invoke(
        cli,
        [
            "replay",
            "sma-cross",
            "--data",
            "ETH/EUR",
            "--start",
            start,
            "--param",
            "fast=4",
            "--param",
            "slow=12",
            "--target",
            target,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["candles"] == 120 and data["trades"]
    assert data["backtest_agrees"] is True and data["first_difference"] is None
    assert set(data["orders_by_status"]) <= {"filled", "open"}


def test_replay_needs_stored_candles(demo_database: Database, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["replay", "sma-cross", "--data", "DOGE/EUR", "--target", f"sqlite:///{tmp_path}/r.db"])
    assert result.exit_code == 1 and "no instrument 'DOGE/EUR'" in result.output


def test_the_help_names_the_built_in_strategies() -> None:
    from app.cli.backtest import BUILT_IN_NAMES
    from core.backtest.strategies import BUILT_IN_STRATEGIES

    assert tuple(sorted(BUILT_IN_STRATEGIES)) == BUILT_IN_NAMES


@pytest.mark.slow  # the first fast run of a checkout compiles the kernels ahead of time (core.backtest.native)
def test_the_real_process_prints_the_same_json_and_exits_cleanly(tmp_path: Path) -> None:
    """``python -m app.cli backtest --no-store --json`` ends without the interpreter's teardown: all written, exit 0."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    path = DATA / "GOOG_1d.csv"
    arguments = ["backtest", "sma-cross", "--data", str(path), "--engine", "fast", "--no-store", "--json"]
    env = {name: value for name, value in os.environ.items() if not name.startswith("KONSENS_")}
    env.update({"KONSENS_HOME": str(tmp_path), "PYTHONPATH": str(root)})
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments], cwd=root, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.endswith(b"}\n") and done.stdout.count(b"\n") == 1
    in_process = runner.invoke(cli, arguments, env={"KONSENS_HOME": str(tmp_path)})
    assert in_process.exit_code == 0, in_process.output
    ours, theirs = json.loads(done.stdout), json.loads(in_process.stdout)
    for data in (ours, theirs):
        del data["timing"], data["seconds"]
    assert ours == theirs
    refused = subprocess.run(  # a refused run still exits with its error code and message
        [sys.executable, "-m", "app.cli", *arguments, "--param", "fast=50", "--param", "slow=10"],
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
    )
    assert refused.returncode == 1 and b"fast < slow" in refused.stderr


def test_a_parse_started_before_typer_is_picked_up_by_the_command(tmp_path: Path) -> None:
    from app.cli import backtest as command

    path = str(DATA / "GOOG_1d.csv")
    arguments = ["sma-cross", "--data", path, "--engine", "fast", "--no-store", "--json"]
    command.start_early(["--help", *arguments])
    command.start_early(["sma-cross", "--data", "BTC/EUR"])  # a symbol: nothing to parse
    command.start_early(["sma-cross", "--data", str(tmp_path / "missing.csv")])
    assert command._early_reads == {}
    command.start_early([arguments[0], f"--data={path}", *arguments[3:]])
    assert list(command._early_reads) == [path]
    early = runner.invoke(cli, ["backtest", *arguments], env={"KONSENS_HOME": str(tmp_path)})
    assert early.exit_code == 0, early.output
    assert command._early_reads == {}  # the command took it
    plain = runner.invoke(cli, ["backtest", *arguments], env={"KONSENS_HOME": str(tmp_path)})
    ours, theirs = json.loads(early.stdout), json.loads(plain.stdout)
    for data in (ours, theirs):
        del data["timing"], data["seconds"]
    assert ours == theirs
