from __future__ import annotations

from datetime import timedelta

from core.db.engine import Database
from core.jobs.models import JobStatus
from core.system.models import QuarantinedRecord, WorkerHeartbeat, WorkerStatus
from core.timeutil import utc_now


def test_system_shows_workers_freshness_quarantine_and_database(demo_database: Database, run_page) -> None:
    now = utc_now()
    with demo_database.session() as session:
        session.add_all(
            [
                WorkerHeartbeat(
                    worker="market",
                    status=WorkerStatus.IDLE,
                    last_beat_at=now - timedelta(seconds=30),
                    passes=42,
                    last_pass_seconds=1.25,
                ),
                WorkerHeartbeat(
                    worker="news",
                    status=WorkerStatus.FAILED,
                    last_beat_at=now,
                    passes=1,
                    last_error="TimeoutError: feed did not answer",
                    last_error_at=now,
                ),
            ]
        )
        session.add(
            QuarantinedRecord(
                created_at=now,
                kind="candle",
                source="ccxt:onetrading",
                reason="high < low",
                record_key="BTC/EUR 1h 2026-01-01T00:00Z",
                payload={"high": 1, "low": 2},
            )
        )
    app = run_page("system")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Workers ok"] == "1 / 2"
    assert metrics["Quarantined rows"] == "1"
    assert metrics["Database (sqlite)"].endswith("MB")
    workers = app.dataframe[0].value.set_index("Worker")
    assert workers.loc["news", "Health"] == "● failed"
    assert workers.loc["news", "Last error"] == "TimeoutError: feed did not answer"
    assert workers.loc["market", "Passes"] == 42
    assert workers.loc["market", "Last pass (work)"] == "1.25 s"
    freshness = app.dataframe[1].value
    assert sorted(freshness["Instrument"]) == ["AAPL", "BTC/EUR", "ETH/EUR", "SOL/EUR"]
    assert set(freshness["Source"]) == {"demo"}
    quarantine = app.dataframe[2].value
    assert quarantine.iloc[0]["Reason"] == "high < low" and quarantine.iloc[0]["Rows"] == 1
    database_text = " ".join(block.value for block in app.markdown)
    assert "Migrations applied" in database_text and "0030_news" in database_text
    assert "Pending: **none**" in database_text


def test_system_on_an_empty_database(configured_sqlite: Database, run_page) -> None:
    app = run_page("system")
    captions = " ".join(caption.value for caption in app.caption)
    assert "No worker has reported yet" in captions
    assert "No candles stored yet" in captions
    assert "Nothing quarantined" in captions


def test_system_lists_news_sources_with_their_last_error(demo_database: Database, run_page) -> None:
    from core.news.models import NewsSourceState, SourceHealth

    now = utc_now()
    with demo_database.session() as session:
        session.add(
            NewsSourceState(
                source="newsapi",
                platform="newsapi",
                status=SourceHealth.FAILING,
                last_attempt_at=now,
                last_error="401 Unauthorized: apiKeyInvalid",
                last_error_at=now,
                consecutive_failures=3,
                items_last_fetch=0,
                items_stored_total=120,
                budget_used=0,
            )
        )
    app = run_page("system")
    table = next(frame.value for frame in app.dataframe if "Platform" in frame.value.columns)
    row = table[table["Source"] == "newsapi"].iloc[0]
    assert row["Status"] == "failing"
    assert row["Failures in a row"] == 3
    assert "apiKeyInvalid" in row["Last error"]


def test_system_counts_jobs_and_lists_the_newest(demo_database: Database, run_page) -> None:
    from core.jobs.service import claim_next_job, finish_job, submit_job

    with demo_database.session() as session:
        submit_job(session, "backtest", {"strategy": "sma-cross", "data": "BTC/EUR"})
        submit_job(session, "backtest", {"strategy": "sma-cross", "data": "ETH/EUR"})
    claimed = demo_database.run(lambda session: claim_next_job(session, "host:1"))
    assert claimed is not None
    demo_database.run(lambda session: finish_job(session, claimed[1], JobStatus.FAILED, error="PriceDataError: gap"))
    app = run_page("system")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Queued"] == "1" and metrics["Failed"] == "1" and metrics["Running"] == "0"
    jobs = next(frame.value for frame in app.dataframe if "Kind" in frame.value.columns)
    assert list(jobs["Status"]) == ["queued", "failed"]
    assert list(jobs["Error"]) == ["", "PriceDataError: gap"]
