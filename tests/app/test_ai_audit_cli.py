"""``konsens analyze --show/--replay`` and ``konsens ai-history`` on the demo database."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from core.ai.models import AIHistoryRun, AnalystOpinion
from core.db.engine import Database
from core.timeutil import utc_now


def test_show_prints_the_decision_record_and_replay_explains_a_built_in_analyst(demo_database: Database) -> None:
    with demo_database.session() as session:
        opinion_id = session.scalars(select(AnalystOpinion.id).order_by(AnalystOpinion.id.desc()).limit(1)).one()
    runner = CliRunner()
    shown = runner.invoke(cli, ["analyze", "--show", str(opinion_id), "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout[shown.stdout.index("{") :])
    assert record["id"] == opinion_id and record["snapshot"]["symbol"] == record["symbol"]
    assert record["snapshot"]["recent_bars"] and "konsens_version" in record
    text = runner.invoke(cli, ["analyze", "--show", str(opinion_id)])
    assert text.exit_code == 0 and f"Opinion #{opinion_id}" in text.stdout
    replay = runner.invoke(cli, ["analyze", "--replay", str(opinion_id)])
    assert replay.exit_code == 0, replay.output
    assert "no prompt (a built-in analyst)" in replay.stdout
    missing = runner.invoke(cli, ["analyze", "--show", "999999"])
    assert missing.exit_code == 1 and "no opinion #999999" in missing.stderr


def test_ai_history_dry_run_estimates_and_writes_nothing_then_a_run_reports(demo_database: Database) -> None:
    runner = CliRunner()
    first = (utc_now() - timedelta(days=10)).date()
    last = first + timedelta(days=4)
    args = ["ai-history", "BTC/EUR", "--since", first.isoformat(), "--until", last.isoformat(), "--every-hours", "24"]
    dry = runner.invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "about 0 calls, about € 0.00" in dry.stdout  # only the built-in analysts are enabled: no paid call
    with demo_database.session() as session:
        assert session.scalars(select(AIHistoryRun)).all() == []
    run = runner.invoke(cli, [*args, "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout[run.stdout.index("{") :])
    assert report["status"] == "done" and report["points_done"] == 5 and report["contaminated"] is False
    again = runner.invoke(cli, ["ai-history", "--report", str(report["run_id"])])
    assert again.exit_code == 0 and f"AI history run #{report['run_id']}" in again.stdout
    bad = runner.invoke(cli, [*args[:3], f"{first.isoformat()}T10:00", "--dry-run"])
    assert bad.exit_code == 1 and "no UTC offset" in bad.stderr
