"""``konsens analyze SYMBOL [--json]``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from tests.core.ai.conftest import OPINION_FIELDS, SUMMARY_FIELDS


def test_analyze_json_has_the_documented_shape(demo_database: Database) -> None:
    result = CliRunner().invoke(cli, ["analyze", "ETH/EUR", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(payload) == SUMMARY_FIELDS
    assert payload["symbol"] == "ETH/EUR"
    assert payload["decision"] in {"buy", "sell", "hold"}
    assert -1 <= payload["score"] <= 1 and 0 <= payload["agreement"] <= 1
    assert [opinion["analyst"] for opinion in payload["opinions"]] == ["technical", "sentiment"]
    for opinion in payload["opinions"]:
        assert set(opinion) == OPINION_FIELDS
        assert opinion["ok"] is True and opinion["error"] is None


def test_analyze_text_and_unknown_symbol(demo_database: Database) -> None:
    runner = CliRunner()
    text = runner.invoke(cli, ["analyze", "btc/eur"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("BTC/EUR: ")
    assert "technical" in text.stdout and "sentiment" in text.stdout
    unknown = runner.invoke(cli, ["analyze", "NOPE/EUR"])
    assert unknown.exit_code == 1
    assert "unknown instrument 'NOPE/EUR'" in unknown.stderr


def test_ai_history_job_is_queued_for_the_jobs_worker_and_a_bad_date_is_refused(demo_database: Database) -> None:
    from core.jobs.service import list_jobs

    runner = CliRunner()
    queued = runner.invoke(
        cli, ["ai-history", "BTC/EUR", "--since", "2026-01-01", "--every-hours", "12", "--job", "--json"]
    )
    assert queued.exit_code == 0, queued.output
    job = json.loads(queued.stdout)
    assert job["kind"] == "ai.history" and job["status"] == "queued" and job["params"]["every_hours"] == 12.0
    refused = runner.invoke(cli, ["ai-history", "BTC/EUR", "--since", "someday", "--job"])
    assert refused.exit_code != 0 and "not a date or ISO time" in refused.output
    with demo_database.session() as session:
        assert [item.kind for item in list_jobs(session, kinds=["ai.history"])] == ["ai.history"]
