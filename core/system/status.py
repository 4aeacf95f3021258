"""What the System page shows: worker heartbeats, data freshness, quarantine, the database.

Every function takes a Session (or the Database for its health) and returns plain dataclasses;
no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.engine import Database, DatabaseHealth
from core.db.migrate import current_revisions, pending_revisions
from core.market.models import AssetClass, Instrument
from core.market.series import candle_series
from core.market.sessions import market_seconds_between, trades_round_the_clock
from core.system.heartbeats import list_heartbeats
from core.system.models import QuarantinedRecord, WorkerStatus
from core.timeutil import utc_now

TRADING_SECONDS_PER_DAY = 7.5 * 3600  # the session window of core.market.sessions

# A worker that has not beaten for this long is "stale" (its loop beats at least once per pass).
DEFAULT_STALE_AFTER = timedelta(minutes=15)
# Workers with long intervals beat rarely while idle: allow their interval plus this margin.
STALE_MARGIN = timedelta(minutes=5)
# A series is "fresh" while its newest candle is at most this many timeframes old, "late" up to
# LATE_BARS, and "stale" beyond.
FRESH_BARS = 2
LATE_BARS = 6


class Health(StrEnum):
    """Traffic-light state of a worker or a data series."""

    OK = "ok"
    LATE = "late"
    STALE = "stale"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerState:
    """A worker's heartbeat with its health judged at ``now``."""

    worker: str
    status: WorkerStatus
    health: Health
    last_beat_at: datetime
    age: timedelta
    started_at: datetime | None
    passes: int
    last_pass_seconds: float | None
    last_error: str | None
    last_error_at: datetime | None
    host: str | None
    pid: int | None
    info: dict[str, Any] | None


def worker_states(session: Session, *, now: datetime | None = None) -> list[WorkerState]:
    """Return every worker's heartbeat with its health: ok, stale (silent too long), failed, stopped."""
    now = now or utc_now()
    states = []
    for beat in list_heartbeats(session):
        age = now - beat.last_beat_at
        interval = (beat.info or {}).get("interval_seconds") if isinstance(beat.info, dict) else None
        stale_after = DEFAULT_STALE_AFTER
        if isinstance(interval, int | float) and interval > 0:
            stale_after = max(DEFAULT_STALE_AFTER, timedelta(seconds=float(interval)) + STALE_MARGIN)
        if beat.status is WorkerStatus.STOPPED:
            health = Health.STOPPED
        elif beat.status is WorkerStatus.FAILED:
            health = Health.FAILED
        elif age > stale_after:
            health = Health.STALE
        else:
            health = Health.OK
        states.append(
            WorkerState(
                worker=beat.worker,
                status=beat.status,
                health=health,
                last_beat_at=beat.last_beat_at,
                age=age,
                started_at=beat.started_at,
                passes=beat.passes or 0,
                last_pass_seconds=beat.last_pass_seconds,
                last_error=beat.last_error,
                last_error_at=beat.last_error_at,
                host=beat.host,
                pid=beat.pid,
                info=beat.info,
            )
        )
    return states


@dataclass(frozen=True)
class SeriesFreshness:
    """How recent one candle series is."""

    instrument_id: int
    symbol: str
    source: str
    timeframe: str
    latest_ts: datetime
    age: timedelta
    bars_behind: float
    health: Health


def data_freshness(session: Session, *, now: datetime | None = None) -> list[SeriesFreshness]:
    """Return each (instrument, source, timeframe) series with the age of its newest candle.

    A candle opened at ``ts`` closes one timeframe later, so the age counts from then:
    ok within ``FRESH_BARS`` timeframes, late within ``LATE_BARS``, stale beyond.
    """
    now = now or utc_now()
    instruments = {
        int(row[0]): (str(row[1]), row[2])
        for row in session.execute(select(Instrument.id, Instrument.symbol, Instrument.asset_class))
    }
    found = []
    for series in candle_series(session):
        seconds = series.timeframe_seconds
        age = now - series.latest_ts
        symbol, asset_class = instruments.get(series.instrument_id, (str(series.instrument_id), AssetClass.CRYPTO))
        # An exchange-traded series only falls behind while its market is open.
        behind_seconds = market_seconds_between(series.latest_ts + timedelta(seconds=seconds), now, asset_class)
        if seconds >= 86_400 and not trades_round_the_clock(asset_class):
            bars_behind = behind_seconds / TRADING_SECONDS_PER_DAY * 86_400 / seconds
        else:
            bars_behind = behind_seconds / seconds
        if bars_behind <= FRESH_BARS:
            health = Health.OK
        elif bars_behind <= LATE_BARS:
            health = Health.LATE
        else:
            health = Health.STALE
        found.append(
            SeriesFreshness(
                instrument_id=series.instrument_id,
                symbol=symbol,
                source=series.source,
                timeframe=series.timeframe,
                latest_ts=series.latest_ts,
                age=age,
                bars_behind=bars_behind,
                health=health,
            )
        )
    return sorted(found, key=lambda item: (item.symbol, item.source, item.timeframe))


@dataclass(frozen=True)
class QuarantineGroup:
    """Refused rows of one kind, source and reason."""

    kind: str
    source: str
    reason: str
    count: int
    latest_at: datetime


@dataclass(frozen=True)
class QuarantineRow:
    """One refused row, for the latest-rows table."""

    id: int
    created_at: datetime
    kind: str
    source: str
    reason: str
    record_key: str | None
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class QuarantineSummary:
    total: int
    groups: list[QuarantineGroup]
    latest: list[QuarantineRow]


def quarantine_summary(session: Session, *, latest_limit: int = 50) -> QuarantineSummary:
    """Return quarantined rows counted by kind, source and reason, and the newest rows."""
    grouped = session.execute(
        select(
            QuarantinedRecord.kind,
            QuarantinedRecord.source,
            QuarantinedRecord.reason,
            func.count(),
            func.max(QuarantinedRecord.created_at),
        )
        .group_by(QuarantinedRecord.kind, QuarantinedRecord.source, QuarantinedRecord.reason)
        .order_by(func.count().desc(), QuarantinedRecord.kind)
    ).all()
    groups = [
        QuarantineGroup(kind, source, reason, int(count), _aware(latest))
        for kind, source, reason, count, latest in grouped
    ]
    latest_rows = session.scalars(
        select(QuarantinedRecord)
        .order_by(QuarantinedRecord.created_at.desc(), QuarantinedRecord.id.desc())
        .limit(latest_limit)
    ).all()
    latest = [
        QuarantineRow(row.id, row.created_at, row.kind, row.source, row.reason, row.record_key, row.payload)
        for row in latest_rows
    ]
    return QuarantineSummary(total=sum(group.count for group in groups), groups=groups, latest=latest)


def _aware(value: Any) -> datetime:
    """max() over a UTCDateTime column comes back raw on SQLite: make it an aware datetime."""
    from core.timeutil import parse_utc

    if isinstance(value, datetime):
        return parse_utc(value)
    return parse_utc(str(value))


@dataclass(frozen=True)
class DatabaseStatus:
    """The database's health, size and migration state."""

    health: DatabaseHealth
    applied_revisions: list[str]
    pending_revisions: list[str]


def database_status(database: Database) -> DatabaseStatus:
    """Return the health check (kind, size, latency) and the applied and pending migrations."""
    health = database.health()
    if not health.ok:
        return DatabaseStatus(health=health, applied_revisions=[], pending_revisions=[])
    return DatabaseStatus(
        health=health,
        applied_revisions=current_revisions(database),
        pending_revisions=pending_revisions(database),
    )


def stale_since(
    price_time: datetime | None,
    asset_class: str,
    *,
    expected_interval: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    tolerance: float = 2.0,
) -> datetime | None:
    """Return ``price_time`` when the price is stale, else None.

    A price is stale when more than ``tolerance`` × ``expected_interval`` of *trading* time has
    passed since it (a stock's price from Friday's close is not stale on Sunday).
    """
    if price_time is None:
        return None
    moment = now or utc_now()
    age = market_seconds_between(_aware(price_time), moment, asset_class)
    return _aware(price_time) if age > tolerance * expected_interval.total_seconds() else None


def worker_is_running(session: Session, worker: str, *, now: datetime | None = None) -> bool:
    """Return whether ``worker`` beats in time (health ok), e.g. under ``konsens up``."""
    return any(state.worker == worker and state.health is Health.OK for state in worker_states(session, now=now))
