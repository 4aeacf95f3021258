"""The worker health probe that Kubernetes runs (``python -m app.probe worker NAME``)."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from app.probe import main, worker_liveness
from core.db.engine import Database
from core.system.heartbeats import record_heartbeat
from core.system.models import WorkerHeartbeat, WorkerStatus
from core.timeutil import utc_now


def test_fresh_heartbeat_from_this_host_is_alive(configured_sqlite: Database) -> None:
    with configured_sqlite.session() as session:
        record_heartbeat(session, "market", WorkerStatus.RUNNING)
    assert main(["worker", "market", "--max-age", "60"]) == 0


def test_worker_without_heartbeat_is_not_alive(configured_sqlite: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "executor"]) == 1
    assert "executor: no heartbeat yet" in capsys.readouterr().err


def test_stale_heartbeat_is_not_alive(configured_sqlite: Database, capsys: pytest.CaptureFixture[str]) -> None:
    with configured_sqlite.session() as session:
        record_heartbeat(session, "news", WorkerStatus.RUNNING)
        row = session.get(WorkerHeartbeat, "news")
        assert row is not None
        row.last_beat_at = utc_now() - timedelta(seconds=1000)
    assert main(["worker", "news", "--max-age", "900"]) == 1
    assert "is 1000 s old (limit 900 s)" in capsys.readouterr().err


def test_heartbeat_of_a_previous_pod_is_not_this_pods_worker() -> None:
    now = utc_now()
    heartbeat = WorkerHeartbeat(worker="sync", status=WorkerStatus.RUNNING, host="konsens-sync-old", last_beat_at=now)
    reason = worker_liveness(heartbeat, host="konsens-sync-new", max_age=timedelta(seconds=60), now=now)
    assert reason is not None
    assert "konsens-sync-old" in reason
    heartbeat.host = socket.gethostname()
    assert worker_liveness(heartbeat, host=socket.gethostname(), max_age=timedelta(seconds=60), now=now) is None


def test_unreachable_database_is_not_judged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.config import get_settings
    from core.db.engine import reset_database_cache

    monkeypatch.setenv("KONSENS_DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none?connect_timeout=2")
    get_settings.cache_clear()
    reset_database_cache()
    try:
        assert main(["worker", "market"]) == 0
        assert "cannot read the heartbeat, not judged" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
        reset_database_cache()


def test_non_positive_max_age_is_refused() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "market", "--max-age", "0"])
    assert exit_info.value.code == 2
