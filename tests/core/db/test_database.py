from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db.engine import Database
from core.db.migrate import current_revisions, pending_revisions, upgrade_database
from core.db.upsert import bulk_upsert
from core.market.models import AssetClass, Candle, Instrument


def _instrument(database: Database) -> int:
    with database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        return instrument.id


def test_upgrade_applies_every_head_and_is_repeatable(database: Database) -> None:
    assert pending_revisions(database) == []
    before = current_revisions(database)
    upgrade_database(database)
    assert current_revisions(database) == before


def test_timestamps_come_back_aware_utc_and_money_as_decimal(database: Database) -> None:
    instrument_id = _instrument(database)
    ts = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    with database.session() as session:
        session.add(
            Candle(
                instrument_id=instrument_id,
                source="test",
                timeframe="1h",
                ts=ts,
                open=Decimal("100.123456789"),
                high=Decimal("101"),
                low=Decimal("99"),
                close=Decimal("100.5"),
                volume=Decimal("3.25"),
            )
        )
    with database.session() as session:
        candle = session.scalars(select(Candle)).one()
        assert candle.ts == ts
        assert candle.ts.tzinfo is not None
        assert candle.close == Decimal("100.5")
        assert isinstance(candle.open, Decimal)


def test_naive_datetime_and_float_money_are_refused(sqlite_database: Database) -> None:
    instrument_id = _instrument(sqlite_database)
    with pytest.raises(Exception, match="naive datetime"), sqlite_database.session() as session:
        session.add(
            Candle(
                instrument_id=instrument_id,
                source="t",
                timeframe="1h",
                ts=datetime(2024, 1, 1),  # noqa: DTZ001
                open=Decimal(1),
                high=Decimal(1),
                low=Decimal(1),
                close=Decimal(1),
                volume=Decimal(1),
            )
        )
    with pytest.raises(Exception, match="float refused"), sqlite_database.session() as session:
        session.add(
            Candle(
                instrument_id=instrument_id,
                source="t",
                timeframe="1h",
                ts=datetime(2024, 1, 1, tzinfo=UTC),
                open=1.0,
                high=Decimal(1),
                low=Decimal(1),
                close=Decimal(1),
                volume=Decimal(1),
            )
        )


def test_bulk_upsert_twice_stores_nothing_twice_and_updates_values(database: Database) -> None:
    instrument_id = _instrument(database)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "instrument_id": instrument_id,
            "source": "s",
            "timeframe": "1h",
            "ts": start + timedelta(hours=i),
            "open": Decimal(i + 1),
            "high": Decimal(i + 2),
            "low": Decimal(i),
            "close": Decimal(i + 1),
            "volume": Decimal(10),
        }
        for i in range(100)
    ]
    columns = ["instrument_id", "source", "timeframe", "ts"]
    with database.session() as session:
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=columns, update_columns=["close"])  # type: ignore[arg-type]
    rows[-1] = {**rows[-1], "close": Decimal("555")}
    with database.session() as session:
        bulk_upsert(session, Candle.__table__, rows, conflict_columns=columns, update_columns=["close"])  # type: ignore[arg-type]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Candle)) == 100
        last = session.scalar(select(Candle.close).order_by(Candle.ts.desc()).limit(1))
        assert last == Decimal("555")


def test_health_reports_kind_and_size(database: Database) -> None:
    health = database.health()
    assert health.ok
    assert health.kind in {"sqlite", "postgresql"}
    assert health.size_bytes and health.size_bytes > 0


def test_health_of_an_unreachable_server_is_reported_not_raised() -> None:
    database = Database("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    health = database.health()
    assert not health.ok
    assert health.error


def test_decimals_round_trip_exactly(database: Database) -> None:
    from core.portfolio.models import PortfolioSnapshot

    values = [Decimal("0.15985263"), Decimal("12345.67"), Decimal("0.00000001"), Decimal("98765432.1")]
    with database.session() as session:
        for index, value in enumerate(values):
            session.add(
                PortfolioSnapshot(
                    account="a",
                    ts=datetime(2024, 1, 1, index, tzinfo=UTC),
                    equity_eur=value,
                    cash_eur=value,
                    positions_value_eur=Decimal(0),
                )
            )
    with database.session() as session:
        stored = session.scalars(select(PortfolioSnapshot.equity_eur).order_by(PortfolioSnapshot.ts)).all()
    assert [value.normalize() for value in stored] == [value.normalize() for value in values]


def _locked() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, Exception("database is locked"))


def test_read_runs_core_work_and_retries_a_transient_error(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.db.engine as engine_module

    waits: list[float] = []
    monkeypatch.setattr(engine_module.time, "sleep", waits.append)
    calls: list[int] = []

    def work(connection: object) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise _locked()
        return int(sqlite_database.engine.dialect.name == "sqlite")

    assert sqlite_database.read(work) == 1
    assert len(calls) == 3 and waits == [0.1, 0.2]
    count = select(func.count()).select_from(Instrument.__table__)
    assert sqlite_database.read(lambda connection: connection.execute(count).scalar()) == 0
    # A permanent error is raised at once; transient ones after the last attempt.
    with pytest.raises(ZeroDivisionError):
        sqlite_database.run(lambda session: 1 // 0)
    calls.clear()

    def always_locked(session: object) -> None:
        calls.append(1)
        raise _locked()

    with pytest.raises(Exception, match="database is locked"):
        sqlite_database.run(always_locked, attempts=3)
    assert len(calls) == 3


def test_the_retry_waits_are_core_retrys_backoff_growing_to_five_seconds(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.db.engine as engine_module
    from core.retry import backoff_seconds

    waits: list[float] = []
    monkeypatch.setattr(engine_module.time, "sleep", waits.append)

    def always_locked(session: object) -> None:
        raise _locked()

    with pytest.raises(Exception, match="database is locked"):
        sqlite_database.run(always_locked, attempts=9)
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert waits == [backoff_seconds(n, base_seconds=0.1, max_seconds=5.0) for n in range(1, 9)]


def test_tenacity_is_imported_only_when_a_database_retry_is_due(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys, time\n"
        "from sqlalchemy import text\n"
        "from sqlalchemy.exc import OperationalError\n"
        "from core.db.engine import Database\n"
        f"database = Database({f'sqlite:///{tmp_path / "x.db"}'!r}, instrument=False)\n"
        "assert database.read(lambda c: c.execute(text('SELECT 1')).scalar()) == 1\n"
        "before = 'tenacity' in sys.modules\n"
        "calls = []\n"
        "def work(c):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 1:\n"
        "        raise OperationalError('SELECT 1', {}, Exception('database is locked'))\n"
        "    return c.execute(text('SELECT 2')).scalar()\n"
        "time.sleep = lambda seconds: None\n"
        "assert database.read(work) == 2 and len(calls) == 2\n"
        "print(json.dumps([before, 'tenacity' in sys.modules]))\n"
    )
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True).stdout
    assert json.loads(output.strip().splitlines()[-1]) == [False, True]


def test_a_database_without_metrics_imports_neither_the_orm_nor_prometheus(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "from core.db.engine import Database\n"
        f"database = Database({f'sqlite:///{tmp_path / "x.db"}'!r}, instrument=False)\n"
        "from sqlalchemy import text\n"
        "assert database.read(lambda c: c.execute(text('SELECT 1')).scalar()) == 1\n"
        "before = sorted(sys.modules)\n"
        "database.instrument()\n"
        "with database.session() as session:\n"
        "    session.execute(text('SELECT 1'))\n"
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    )
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True).stdout
    before, after = (set(names) for names in json.loads(output.strip().splitlines()[-1]))
    assert "sqlalchemy.orm" not in before and "prometheus_client" not in before and "tenacity" not in before
    assert "sqlalchemy.orm" in after and "prometheus_client" in after


def _pooled_sqlite_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, Any]:
    """The process-wide database on a SQLite file, and the raw connection its pool holds (checked in)."""
    from core.db.engine import get_database, reset_database_cache

    monkeypatch.setenv("KONSENS_HOME", str(tmp_path))
    monkeypatch.setenv("KONSENS_DATABASE_URL", f"sqlite:///{tmp_path / 'cache.db'}")
    reset_database_cache()
    database = get_database(instrument=False)
    with database.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        connection.exec_driver_sql("SELECT 1")
    return database, raw


def test_reset_database_cache_closes_the_pooled_connections_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.db.engine import get_database, reset_database_cache

    database, raw = _pooled_sqlite_connection(tmp_path, monkeypatch)
    reset_database_cache()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        raw.execute("SELECT 1")
    assert get_database(instrument=False) is not database
    reset_database_cache()


def test_reset_database_cache_without_dispose_leaves_the_connections_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a forked child does: the pooled connections are the parent's, so they are dropped, not closed.
    from core.db.engine import get_database, reset_database_cache

    database, raw = _pooled_sqlite_connection(tmp_path, monkeypatch)
    reset_database_cache(dispose=False)
    assert raw.execute("SELECT 1").fetchone() == (1,)
    fresh = get_database(instrument=False)
    assert fresh is not database
    with fresh.engine.connect() as connection:
        assert connection.connection.dbapi_connection is not raw
    raw.close()
    reset_database_cache()
