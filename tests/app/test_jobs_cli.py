"""``konsens jobs list|show|cancel`` and ``--job`` queueing of ``backtest-sweep`` and ``replay``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.jobs.models import JobStatus
from core.jobs.runner import run_job
from core.jobs.service import claim_next_job, list_jobs
from tests.shared_data import SharedFolder

DATA = SharedFolder("ohlcv")
runner = CliRunner()


def test_sweep_job_is_queued_listed_run_shown_and_not_cancelled_after_the_end(configured_sqlite: Database) -> None:
    queued = runner.invoke(
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
            "--job",
            "--json",
        ],
    )
    assert queued.exit_code == 0, queued.output
    job = json.loads(queued.stdout)
    assert job["kind"] == "backtest-sweep" and job["status"] == "queued" and job["created_by"] == "cli"
    assert job["params"]["grid"] == {"fast": [5, 10, 15], "slow": [50, 100]}
    listed = runner.invoke(cli, ["jobs", "list", "--json"])
    assert [entry["id"] for entry in json.loads(listed.stdout)] == [job["id"]]
    text = runner.invoke(cli, ["jobs", "list"])
    assert "queued" in text.stdout and "Sweep sma-cross over fast (3) × slow (2) on SPY_1d.csv" in text.stdout
    claimed = configured_sqlite.run(lambda session: claim_next_job(session, "test:1"))
    assert claimed is not None and run_job(configured_sqlite, claimed[1]) is JobStatus.SUCCEEDED
    shown = json.loads(runner.invoke(cli, ["jobs", "show", str(job["id"]), "--json"]).stdout)
    assert shown["status"] == "succeeded" and shown["result"]["combinations"] == 6
    assert shown["result"]["metric"] == "total_return" and shown["result"]["run_id"] is not None
    human = runner.invoke(cli, ["jobs", "show", str(job["id"])])
    assert "status     succeeded" in human.stdout and '"combinations": 6' in human.stdout
    late = runner.invoke(cli, ["jobs", "cancel", str(job["id"])])
    assert late.exit_code == 1 and "has already ended (succeeded); there is nothing to cancel" in late.output


def test_cancel_a_queued_replay_job_and_errors(configured_sqlite: Database) -> None:
    queued = runner.invoke(
        cli, ["replay", "sma-cross", "--data", "BTC/EUR", "--param", "fast=4", "--param", "slow=12", "--job"]
    )
    assert queued.exit_code == 0, queued.output
    assert "Queued job 1: Replay sma-cross on BTC/EUR 1h" in queued.stdout
    cancelled = runner.invoke(cli, ["jobs", "cancel", "1"])
    assert cancelled.exit_code == 0 and "Job 1 cancelled." in cancelled.stdout
    assert [job.status for job in configured_sqlite.run(list_jobs)] == [JobStatus.CANCELLED]
    missing = runner.invoke(cli, ["jobs", "show", "9"])
    assert missing.exit_code == 1 and "no job 9" in missing.output
    wrong = runner.invoke(cli, ["jobs", "list", "--status", "done"])
    assert wrong.exit_code == 1 and "unknown job status 'done'" in wrong.output


def test_a_job_that_cannot_run_is_refused_and_nothing_is_queued(configured_sqlite: Database) -> None:
    refused = runner.invoke(
        cli, ["backtest-sweep", "sma-cross", "--data", "BTC/EUR", "--grid", "slowest=5,10", "--job"]
    )
    assert refused.exit_code == 1 and "Parameter sweep: sma-cross has no parameter slowest" in refused.output
    assert configured_sqlite.run(list_jobs) == []
