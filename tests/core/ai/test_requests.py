"""'Analyse now' requests: one claim per request even with two workers racing."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from core.ai.models import AnalysisRequest, RequestStatus
from core.ai.requests import (
    claim_next_request,
    finish_request,
    open_request,
    request_analysis,
    requeue_stale_requests,
)
from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from core.timeutil import utc_now


def _instruments(database: Database, count: int) -> list[int]:
    with database.session() as session:
        rows = [
            Instrument(symbol=f"C{index}/EUR", base=f"C{index}", quote="EUR", asset_class=AssetClass.CRYPTO)
            for index in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_request_is_reused_while_open(sqlite_database: Database) -> None:
    (instrument_id,) = _instruments(sqlite_database, 1)
    with sqlite_database.session() as session:
        first = request_analysis(session, instrument_id, requested_by="demo")
        second = request_analysis(session, instrument_id, requested_by="demo")
        assert first.id == second.id
        assert open_request(session, instrument_id) is first


def test_two_workers_never_claim_the_same_request(database: Database) -> None:
    instrument_ids = _instruments(database, 12)
    with database.session() as session:
        for instrument_id in instrument_ids:
            request_analysis(session, instrument_id)
    claims: dict[str, list[int]] = {"w1": [], "w2": []}
    barrier = threading.Barrier(2)

    def work(worker: str) -> None:
        barrier.wait()
        while True:
            claimed = database.run(lambda session: claim_next_request(session, worker))
            if claimed is None:
                return
            claims[worker].append(claimed.id)

    threads = [threading.Thread(target=work, args=(name,)) for name in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    all_claims = claims["w1"] + claims["w2"]
    assert sorted(all_claims) == sorted(set(all_claims))  # nothing twice
    assert len(all_claims) == 12
    with database.session() as session:
        rows = list(session.scalars(select(AnalysisRequest)))
        assert {row.status for row in rows} == {RequestStatus.RUNNING}
        assert {row.id: row.claimed_by for row in rows} == {
            request_id: worker for worker, ids in claims.items() for request_id in ids
        }


def test_stalled_request_is_requeued_and_finished_requests_stay(sqlite_database: Database) -> None:
    first, second = _instruments(sqlite_database, 2)
    with sqlite_database.session() as session:
        request_analysis(session, first)
        request_analysis(session, second)
        stalled = claim_next_request(session, "dead-worker", now=utc_now() - timedelta(hours=1))
        done = claim_next_request(session, "w")
        assert stalled is not None and done is not None
        finish_request(session, done.id, error="BTC/EUR: no candles collected yet")
        assert requeue_stale_requests(session) == 1
        session.expire_all()
        assert session.get(AnalysisRequest, stalled.id).status is RequestStatus.PENDING  # type: ignore[union-attr]
        failed = session.get(AnalysisRequest, done.id)
        assert failed is not None and failed.status is RequestStatus.FAILED
        assert failed.error == "BTC/EUR: no candles collected yet"
