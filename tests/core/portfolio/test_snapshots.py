from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from core.db.engine import Database
from core.portfolio.models import PortfolioSnapshot
from core.portfolio.snapshots import snapshot_time, take_snapshots
from core.system.models import WorkerHeartbeat, WorkerStatus
from tests.core.portfolio.handmade import NOW, seed_handmade
from workers import portfolio as portfolio_worker
from workers.registry import worker_modules


def test_snapshot_per_account_is_idempotent_within_the_hour(database: Database) -> None:
    seed_handmade(database)
    first = database.run(lambda s: take_snapshots(s, now=NOW + timedelta(minutes=5)))
    database.run(lambda s: take_snapshots(s, now=NOW + timedelta(minutes=50)))
    rows = database.run(
        lambda s: [
            (r.account, r.ts, r.equity_eur, r.cash_eur, r.positions_value_eur)
            for r in s.scalars(select(PortfolioSnapshot).order_by(PortfolioSnapshot.account))
        ]
    )
    assert rows == [
        ("bitpanda", NOW, Decimal("2748.00"), Decimal("998.00"), Decimal("1750.00")),
        ("external", NOW, Decimal("15000.00"), Decimal("0.00"), Decimal("15000.00")),
        ("paper", NOW, Decimal("14477.00"), Decimal("2977.00"), Decimal("11500.00")),
    ]
    assert {item.account for item in first} == {"bitpanda", "external", "paper"}
    database.run(lambda s: take_snapshots(s, now=NOW + timedelta(hours=1)))
    count = database.run(lambda s: len(s.scalars(select(PortfolioSnapshot)).all()))
    assert count == 6


def test_snapshot_time_is_the_start_of_the_hour() -> None:
    assert snapshot_time(NOW + timedelta(minutes=59, seconds=59)) == NOW


def test_portfolio_worker_runs_one_pass_and_beats(sqlite_database: Database) -> None:
    seed_handmade(sqlite_database)
    assert "portfolio" in worker_modules()
    loop = portfolio_worker.build_worker(sqlite_database)
    assert loop.interval_seconds == 3600
    assert loop.run(once=True) == 0
    beat = sqlite_database.run(lambda s: s.get(WorkerHeartbeat, "portfolio"))
    assert beat is not None
    assert (beat.status, beat.passes, beat.last_error) == (WorkerStatus.STOPPED, 1, None)
    count = sqlite_database.run(lambda s: len(s.scalars(select(PortfolioSnapshot)).all()))
    assert count == 3
