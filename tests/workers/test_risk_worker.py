"""The risk worker: one pass evaluates breaches and alert rules, stores each alert once, delivers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument
from core.risk.models import AlertKind, DeliveryStatus, RiskAlert, TradingState
from core.risk.monitor import run_risk_pass
from core.risk.settings import save_alert_settings
from core.risk.state import scope_state
from core.system.heartbeats import record_heartbeat
from core.system.models import WorkerStatus
from core.timeutil import utc_now
from tests.core.risk.conftest import ACCOUNT, build_world
from workers.registry import worker_modules
from workers.risk import WORKER_NAME, build_worker


def _candle(session, instrument_id: int, ts, price: str) -> None:
    value = Decimal(price)
    session.add(
        Candle(
            instrument_id=instrument_id,
            source="test",
            timeframe="1h",
            ts=ts,
            open=value,
            high=value,
            low=value,
            close=value,
            volume=Decimal(1),
        )
    )


def test_the_worker_is_registered() -> None:
    assert worker_modules()[WORKER_NAME].__name__ == "workers.risk"


def test_a_pass_alerts_large_moves_stale_data_and_failing_workers_once(sqlite_database: Database) -> None:
    now = utc_now().replace(microsecond=0)
    with sqlite_database.session() as session:
        sol = Instrument(symbol="SOL/EUR", base="SOL", quote="EUR", asset_class=AssetClass.CRYPTO, tracked=True)
        old = Instrument(symbol="ADA/EUR", base="ADA", quote="EUR", asset_class=AssetClass.CRYPTO, tracked=True)
        session.add_all([sol, old])
        session.flush()
        _candle(session, sol.id, now - timedelta(hours=25), "100")
        _candle(session, sol.id, now - timedelta(hours=1), "88")  # -12 % in 24 h
        _candle(session, old.id, now - timedelta(hours=10), "0.5")  # stale
        record_heartbeat(session, "market", WorkerStatus.FAILED, error="TransientError: 429")
        record_heartbeat(session, "news", WorkerStatus.IDLE)
    with sqlite_database.session() as session:
        report = run_risk_pass(session)
        kinds = sorted(alert.kind.value for alert in session.scalars(select(RiskAlert)))
    assert kinds == ["large_move", "stale_data", "worker_failing"]
    assert len(report.alerts) == 3
    with sqlite_database.session() as session:
        assert run_risk_pass(session).alerts == []  # nothing twice
        large = session.scalar(select(RiskAlert).where(RiskAlert.kind == AlertKind.LARGE_MOVE))
        assert large is not None and "SOL/EUR down -12.0%" in large.message
        assert large.severity.value == "critical"  # more than twice the threshold
    # A silent worker is alerted later.
    with sqlite_database.session() as session:
        later = run_risk_pass(session, now=now + timedelta(minutes=30)).alerts
        assert len(later) == 1 and later[0].startswith("worker:news:silent:")
        assert run_risk_pass(session, now=now + timedelta(minutes=31)).alerts == []
        silent = session.scalars(select(RiskAlert).where(RiskAlert.subject == "worker:news")).all()
        assert len(silent) == 1 and "silent" in silent[0].message


def test_the_worker_moves_the_state_on_a_breach_without_any_order(sqlite_database: Database) -> None:
    world = build_world(sqlite_database)
    with sqlite_database.session() as session:
        world.add_snapshot(session, utc_now() - timedelta(days=40), "120000")  # 50 % drawdown from that peak
    assert build_worker(sqlite_database).run(once=True) == 0
    with sqlite_database.session() as session:
        assert scope_state(session, ACCOUNT).state is TradingState.HALTED
        breach = session.scalar(select(RiskAlert).where(RiskAlert.kind == AlertKind.BREACH))
        assert breach is not None and "max_drawdown" in breach.message


def test_the_worker_delivers_alerts_to_the_webhook(sqlite_database: Database, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=200)
    world = build_world(sqlite_database)
    with sqlite_database.session() as session:
        world.add_snapshot(session, utc_now() - timedelta(days=40), "120000")
        save_alert_settings(session, {"webhook_url": httpserver.url_for("/hook")}, actor="tester")
    assert build_worker(sqlite_database).run(once=True) == 0
    with sqlite_database.session() as session:
        breach = session.scalar(select(RiskAlert).where(RiskAlert.kind == AlertKind.BREACH))
        assert breach is not None and breach.delivery_status is DeliveryStatus.SENT
    assert any(request.get_json()["kind"] == "breach" for request, _ in httpserver.log)


def test_a_worker_failing_pass_after_pass_is_alerted_once_per_streak(sqlite_database: Database) -> None:
    """Each failed pass writes a new ``last_error_at``; that must not raise a new alert every pass."""
    with sqlite_database.session() as session:
        record_heartbeat(session, "market", WorkerStatus.IDLE, completed_pass=True)
    for _ in range(3):  # three failed passes of the market worker, a risk pass after each
        with sqlite_database.session() as session:
            record_heartbeat(session, "market", WorkerStatus.RUNNING)
            record_heartbeat(session, "market", WorkerStatus.FAILED, error="ConnectError: unreachable")
        with sqlite_database.session() as session:
            run_risk_pass(session)
    with sqlite_database.session() as session:
        failing = session.scalars(select(RiskAlert).where(RiskAlert.kind == AlertKind.WORKER_FAILING)).all()
        assert len(failing) == 1
    # It recovers, then fails again: a new streak, a new alert.
    with sqlite_database.session() as session:
        record_heartbeat(session, "market", WorkerStatus.IDLE, completed_pass=True)
        run_risk_pass(session)
        record_heartbeat(session, "market", WorkerStatus.FAILED, error="ConnectError: unreachable")
        run_risk_pass(session)
        failing = session.scalars(select(RiskAlert).where(RiskAlert.kind == AlertKind.WORKER_FAILING)).all()
        assert len(failing) == 2
