"""The analyst worker pass: requests, schedule, scoring."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core.ai.models import AnalysisRequest, ConsensusRecord, RequestStatus
from core.ai.requests import request_analysis
from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from core.system import shutdown
from tests.core.ai.conftest import seed_market
from workers.analyst import WORKER_NAME, build_worker, run_pass
from workers.registry import worker_modules


def test_worker_is_registered() -> None:
    assert WORKER_NAME == "analyst"
    assert "analyst" in worker_modules()


def test_pass_carries_out_requests_and_scheduled_runs(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        btc = seed_market(session, "BTC/EUR")
        empty = Instrument(symbol="NEW/EUR", base="NEW", quote="EUR", asset_class=AssetClass.CRYPTO, tracked=False)
        session.add(empty)
        session.flush()
        good = request_analysis(session, btc.id, requested_by="demo").id
        bad = request_analysis(session, empty.id, requested_by="demo").id
    info = run_pass(sqlite_database)
    assert info["requests"] == 2
    assert info["analysts"] == ["technical", "sentiment"]
    with sqlite_database.session() as session:
        done = session.get(AnalysisRequest, good)
        failed = session.get(AnalysisRequest, bad)
        assert done is not None and done.status is RequestStatus.DONE and done.consensus_id is not None
        assert done.progress == "done"
        assert failed is not None and failed.status is RequestStatus.FAILED
        assert failed.error == "NEW/EUR: no candles collected yet"
        # BTC/EUR was just analysed on request, so the schedule does not run it again
        assert info["scheduled"] == []
        assert session.scalar(select(func.count()).select_from(ConsensusRecord)) == 1


def test_worker_loop_once(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        seed_market(session, "ETH/EUR")
    assert build_worker(sqlite_database).run(once=True) == 0
    with sqlite_database.session() as session:
        assert session.scalar(select(func.count()).select_from(ConsensusRecord)) == 1


def test_a_stop_request_leaves_the_queue_and_the_schedule_for_the_next_start(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM sets the process's stop flag: the pass must not start another analysis after it."""
    with sqlite_database.session() as session:
        btc = seed_market(session, "BTC/EUR")
        waiting = request_analysis(session, btc.id, requested_by="demo").id
    stop = threading.Event()
    stop.set()
    monkeypatch.setattr(shutdown, "_shutdown", stop)
    info = run_pass(sqlite_database)
    assert info["requests"] == 0 and info["scheduled"] == []
    with sqlite_database.session() as session:
        request = session.get(AnalysisRequest, waiting)
        assert request is not None and request.status is RequestStatus.PENDING
        assert session.scalar(select(func.count()).select_from(ConsensusRecord)) == 0


def test_pass_evaluates_the_strategy_signal_sources_on_the_newest_closed_candle(sqlite_database: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from core.backtest.signal_source import enable_source, find_source
    from core.timeutil import simulated_clock

    end = datetime(2025, 6, 1, tzinfo=UTC)
    with sqlite_database.session() as session:
        seed_market(session, "BTC/EUR", end=end)
    with simulated_clock(lambda: end + timedelta(minutes=5)):
        assert run_pass(sqlite_database)["strategy_signals"] == []  # nothing enabled: nothing evaluated
        with sqlite_database.session() as session:
            enable_source(session, "sma-cross", "BTC/EUR", "1h", actor="test")
        (line,) = run_pass(sqlite_database)["strategy_signals"]
    assert line.startswith("sma-cross BTC/EUR: ")
    with sqlite_database.session() as session:
        source = find_source(session, "sma-cross")
        assert source.enabled and source.last_candle_at == end - timedelta(hours=1)  # the last closed candle


def test_track_records_are_recomputed_after_new_opinions_or_scores_else_hourly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At rest (nothing analysed or scored) a pass does not re-read every scored opinion."""
    from workers import analyst

    monkeypatch.setattr(analyst, "_track_records_refreshed_at", [])
    assert analyst.track_records_due(changed=False, now=1000.0)  # the first pass of the process
    assert not analyst.track_records_due(changed=False, now=1015.0)  # nothing new: skipped
    assert analyst.track_records_due(changed=True, now=1030.0)  # an opinion was scored
    assert not analyst.track_records_due(changed=False, now=1030.0 + analyst.TRACK_RECORD_REFRESH_SECONDS - 1)
    assert analyst.track_records_due(changed=False, now=1030.0 + analyst.TRACK_RECORD_REFRESH_SECONDS)
