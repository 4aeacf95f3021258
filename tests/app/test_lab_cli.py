"""``konsens backtest-search`` / ``backtest-walk-forward`` / ``backtest-robustness`` end to end (real files)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner, Result

from app.cli import cli
from core.db.engine import Database
from core.lab.store import list_lab_results
from tests.shared_data import SharedFolder

DATA = SharedFolder("ohlcv")
runner = CliRunner()
SPACE = ["--space", "fast=3:30", "--space", "slow=20:120:5"]


def _lab(command: str, csv: str, *options: str) -> Result:
    """Run the lab ``command`` on sma-cross over the shared ``csv`` in the tests' search space."""
    return runner.invoke(cli, [command, "sma-cross", "--data", str(DATA / csv), *SPACE, *options])


def test_search_is_reproducible_and_stored(configured_sqlite: Database) -> None:
    arguments = ("--trials", "40", "--seed", "7", "--json")
    first = _lab("backtest-search", "ORCL_1d.csv", *arguments)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert len(data["trials"]) == 40 and data["best"]["parameters"]["fast"] < data["best"]["parameters"]["slow"]
    assert data["overfitting"]["deflated_sharpe"]["trials"] > 1 and data["overfitting"]["pbo"]["splits"] == 12870
    second = json.loads(_lab("backtest-search", "ORCL_1d.csv", *arguments).stdout)
    assert second["trials"] == data["trials"]
    with configured_sqlite.session() as session:
        assert [row.id for row in list_lab_results(session)] == [second["result_id"], data["result_id"]]


def test_walk_forward_prints_every_fold(configured_sqlite: Database) -> None:
    result = _lab("backtest-walk-forward", "SPY_1d.csv", "--folds", "3", "--trials", "15", "--window", "anchored")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("fold ") == 3 and "Stitched out-of-sample return" in result.stdout


def test_robustness_report_lists_its_sections(configured_sqlite: Database) -> None:
    result = _lab("backtest-robustness", "GOOG_1d.csv", "--folds", "3", "--trials", "10", "--no-store", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [section["key"] for section in data["sections"]] == [
        "lookahead",
        "walk_forward",
        "overfitting",
        "costs",
        "benchmark",
    ]
    assert data["result_id"] is None


def test_bad_input_fails_with_the_reason(configured_sqlite: Database) -> None:
    bad_space = runner.invoke(
        cli, ["backtest-search", "sma-cross", "--data", str(DATA / "ORCL_1d.csv"), "--space", "fast=30:3"]
    )
    assert bad_space.exit_code != 0 and "low < high" in bad_space.output
    bad_window = runner.invoke(
        cli, ["backtest-walk-forward", "sma-cross", "--data", str(DATA / "ORCL_1d.csv"), "--window", "sideways"]
    )
    assert bad_window.exit_code != 0 and "rolling or anchored" in bad_window.output
    too_many = runner.invoke(
        cli, ["backtest-walk-forward", "sma-cross", "--data", str(DATA / "ORCL_1d.csv"), "--folds", "101", *SPACE]
    )
    assert too_many.exit_code != 0 and "between 1 and 100" in too_many.output
    too_long = runner.invoke(
        cli,
        ["backtest-walk-forward", "sma-cross", "--data", str(DATA / "ORCL_1d.csv"), "--train-ratio", "2000", *SPACE],
    )
    assert too_long.exit_code != 0 and "too few for 5 folds" in too_long.output


def test_lab_options_build_the_request_each_command_asks_for(capsys: pytest.CaptureFixture[str]) -> None:
    """The options object the commands build: fixed parameters parsed, walk-forward fields only where given."""
    from app.cli.lab import LabOptions
    from core.lab.service import LabRequest

    given = LabOptions(
        strategy="sma-cross",
        data="BTC/EUR",
        param=(" slow = 40 ",),
        space=("fast=3:30",),
        trials=12,
        seed=None,
        objective="sortino",
        timeframe="1h",
        start="2024-01-01",
        end=None,
        fee_bps=7.0,
        slippage_bps=2.0,
        cash=5_000.0,
        pruning=False,
    )
    assert given.request() == LabRequest(
        strategy="sma-cross",
        data="BTC/EUR",
        timeframe="1h",
        start="2024-01-01",
        parameters={"slow": "40"},
        space=("fast=3:30",),
        config={"fee_bps": 7.0, "slippage_bps": 2.0, "initial_cash": 5_000.0},
        trials=12,
        seed=None,
        objective="sortino",
        pruning=False,
    )  # folds, window and train_ratio: the request's defaults
    walk = replace(given, folds=3, window="anchored", train_ratio=2.0).request()
    assert (walk.folds, walk.window, walk.train_ratio, walk.pruning) == (3, "anchored", 2.0, False)
    with pytest.raises(typer.Exit):
        replace(given, param=("slow",)).request()
    assert "--param takes name=value, got 'slow'" in capsys.readouterr().err


def test_protections_switch_on_the_saved_limits(configured_sqlite: Database) -> None:
    from core.risk.settings import save_limits

    with configured_sqlite.session() as session:
        save_limits(session, {"cooldown_minutes": 24 * 60}, actor="test")
    arguments = [
        "backtest",
        "sma-cross",
        "--data",
        str(DATA / "ETH_BTC_5m.csv"),
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--engine",
        "fast",
        "--no-store",
        "--json",
    ]
    plain = json.loads(runner.invoke(cli, arguments).stdout)
    guarded = json.loads(runner.invoke(cli, [*arguments, "--protections"]).stdout)
    assert plain["blocked_orders"] == {} and guarded["blocked_orders"]["cooldown"] > 0
    assert guarded["config"]["protections"]["cooldown_minutes"] == 24 * 60
    assert len(guarded["trades"]) < len(plain["trades"])
    search = _lab("backtest-search", "ETH_BTC_5m.csv", "--trials", "5", "--protections", "--json")
    assert search.exit_code == 0, search.output
    with configured_sqlite.session() as session:
        stored = list_lab_results(session)[0]
    assert stored.request["protections"]["cooldown_minutes"] == 24 * 60


def test_job_queues_the_walk_forward_and_the_jobs_worker_runs_it(configured_sqlite: Database) -> None:
    from core.jobs.models import JobStatus
    from core.jobs.runner import run_job
    from core.jobs.service import claim_next_job, get_job

    result = _lab("backtest-walk-forward", "SPY_1d.csv", "--folds", "2", "--trials", "8", "--job", "--json")
    assert result.exit_code == 0, result.output
    queued = json.loads(result.stdout)
    assert queued["kind"] == "lab.walk_forward" and queued["status"] == "queued"
    with configured_sqlite.session() as session:
        assert list_lab_results(session) == []  # nothing ran in the command
    claimed = configured_sqlite.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None
    assert run_job(configured_sqlite, claimed[1]) is JobStatus.SUCCEEDED  # what the jobs worker does
    job = configured_sqlite.run(lambda session: get_job(session, queued["id"]))
    assert job is not None and job.result is not None
    with configured_sqlite.session() as session:
        assert [row.id for row in list_lab_results(session)] == [job.result["result_id"]]
