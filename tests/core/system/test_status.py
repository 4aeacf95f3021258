from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory

from core.db.engine import Database
from core.db.migrate import alembic_config
from core.system.models import QuarantinedRecord, WorkerHeartbeat, WorkerStatus
from core.system.status import Health, data_freshness, database_status, quarantine_summary, worker_states
from tests.core.portfolio.handmade import NOW, add_instruments, candle


def test_worker_health_from_status_and_age(database: Database) -> None:
    with database.session() as session:
        session.add_all(
            [
                WorkerHeartbeat(
                    worker="market", status=WorkerStatus.IDLE, last_beat_at=NOW - timedelta(minutes=2), passes=12
                ),
                WorkerHeartbeat(
                    worker="news", status=WorkerStatus.IDLE, last_beat_at=NOW - timedelta(minutes=40), passes=3
                ),
                WorkerHeartbeat(
                    worker="portfolio",
                    status=WorkerStatus.IDLE,
                    last_beat_at=NOW - timedelta(minutes=40),
                    passes=1,
                    info={"interval_seconds": 3600},
                ),
                WorkerHeartbeat(
                    worker="sync",
                    status=WorkerStatus.FAILED,
                    last_beat_at=NOW,
                    passes=0,
                    last_error="TimeoutError: read timed out",
                    last_error_at=NOW,
                ),
                WorkerHeartbeat(
                    worker="analyst", status=WorkerStatus.STOPPED, last_beat_at=NOW - timedelta(days=1), passes=9
                ),
            ]
        )
    states = {state.worker: state for state in database.run(lambda s: worker_states(s, now=NOW))}
    assert {name: state.health for name, state in states.items()} == {
        "analyst": Health.STOPPED,
        "market": Health.OK,
        "news": Health.STALE,
        "portfolio": Health.OK,  # a one-hour worker is not stale after 40 minutes
        "sync": Health.FAILED,
    }
    assert states["sync"].last_error == "TimeoutError: read timed out"
    assert states["market"].age == timedelta(minutes=2)
    assert states["market"].passes == 12


def test_data_freshness_per_instrument_source_and_timeframe(database: Database) -> None:
    with database.session() as session:
        instruments = add_instruments(session)
        btc, eth = instruments["BTC/EUR"], instruments["ETH/EUR"]
        session.add_all(
            [
                candle(btc, NOW - timedelta(hours=3), "1"),
                candle(btc, NOW - timedelta(hours=2), "2"),  # closed 1 h ago: ok
                candle(btc, NOW - timedelta(hours=5), "3", source="ccxt:onetrading"),  # 4 bars behind: late
                candle(eth, NOW - timedelta(days=10), "4", timeframe="1d"),  # 9 bars behind: stale
            ]
        )
    rows = database.run(lambda s: data_freshness(s, now=NOW))
    assert [(row.symbol, row.source, row.timeframe, row.latest_ts, row.bars_behind, row.health) for row in rows] == [
        ("BTC/EUR", "ccxt:onetrading", "1h", NOW - timedelta(hours=5), 4.0, Health.LATE),
        ("BTC/EUR", "demo", "1h", NOW - timedelta(hours=2), 1.0, Health.OK),
        ("ETH/EUR", "demo", "1d", NOW - timedelta(days=10), 9.0, Health.STALE),
    ]


def test_quarantine_is_counted_by_kind_source_and_reason(database: Database) -> None:
    with database.session() as session:
        for minute, kind, source, reason in (
            (1, "candle", "ccxt:onetrading", "high < low"),
            (2, "candle", "ccxt:onetrading", "high < low"),
            (3, "candle", "yahoo", "NaN close"),
            (4, "news_item", "rss", "no title"),
        ):
            session.add(
                QuarantinedRecord(
                    created_at=NOW + timedelta(minutes=minute),
                    kind=kind,
                    source=source,
                    reason=reason,
                    record_key=f"k{minute}",
                    payload={"n": minute},
                )
            )
    summary = database.run(lambda s: quarantine_summary(s, latest_limit=3))
    assert summary.total == 4
    assert next((g.kind, g.source, g.reason, g.count) for g in summary.groups) == (
        "candle",
        "ccxt:onetrading",
        "high < low",
        2,
    )
    assert {(g.kind, g.count) for g in summary.groups} == {("candle", 2), ("candle", 1), ("news_item", 1)}
    assert summary.groups[0].latest_at == NOW + timedelta(minutes=2)
    assert [row.record_key for row in summary.latest] == ["k4", "k3", "k2"]
    assert summary.latest[0].payload == {"n": 4}


def test_database_status_reports_kind_size_and_migrations(database: Database) -> None:
    status = database_status(database)
    assert status.health.ok
    assert status.health.kind == database.kind
    assert status.health.size_bytes and status.health.size_bytes > 0
    heads = ScriptDirectory.from_config(alembic_config(database)).get_heads()
    assert sorted(status.applied_revisions) == sorted(heads)
    assert status.pending_revisions == []


def test_a_price_is_stale_after_two_intervals_of_trading_time() -> None:
    from datetime import UTC, datetime, timedelta

    from core.system.status import stale_since

    price_time = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # a Tuesday
    assert stale_since(price_time, "crypto", now=price_time + timedelta(minutes=119)) is None
    assert stale_since(price_time, "crypto", now=price_time + timedelta(hours=2, minutes=1)) == price_time
    assert stale_since(None, "crypto") is None
    friday_close = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert stale_since(friday_close, "stock", now=sunday) is None  # no trading time has passed
    assert stale_since(friday_close, "crypto", now=sunday) == friday_close
