"""One pass of the risk monitor: breaches per account, large moves, stale data, failing workers.

Each condition becomes at most one alert (its ``dedupe_key`` names the episode), so running a
pass twice stores nothing twice. ``workers/risk.py`` runs ``run_risk_pass`` on a schedule and
then delivers pending alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.market.models import Candle, Instrument
from core.market.query import close_at, latest_close, tracked_instruments
from core.risk.alerts import raise_alert
from core.risk.exposure import known_accounts
from core.risk.guard import evaluate_account_breaches, limits_or_halt
from core.risk.models import AlertKind, AlertSeverity
from core.risk.settings import AlertSettings, load_alert_settings
from core.system.heartbeats import list_heartbeats
from core.system.models import WorkerStatus
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)

RISK_WORKER_NAME = "risk"


@dataclass
class MonitorReport:
    accounts_checked: int = 0
    alerts: list[str] = field(default_factory=list)


def check_large_moves(session: Session, settings: AlertSettings, now: datetime) -> list[str]:
    """Alert when a tracked instrument moved at least ``large_move_pct`` within the window."""
    raised = []
    window = timedelta(hours=settings.large_move_window_hours)
    for instrument in tracked_instruments(session):
        latest = latest_close(session, instrument.id)
        if latest is None:
            continue
        latest_ts, latest_price = latest
        latest_ts = ensure_utc(latest_ts)
        before = close_at(session, instrument.id, latest_ts - window)
        if before is None or before <= 0:
            continue
        move = float(latest_price / before - 1)
        if abs(move) < settings.large_move_pct:
            continue
        direction = "up" if move > 0 else "down"
        bucket = latest_ts.strftime("%Y-%m-%d")
        alert = raise_alert(
            session,
            kind=AlertKind.LARGE_MOVE,
            severity=AlertSeverity.WARNING if abs(move) < 2 * settings.large_move_pct else AlertSeverity.CRITICAL,
            subject=f"instrument:{instrument.symbol}",
            message=(
                f"{instrument.symbol} {direction} {move:+.1%} in {settings.large_move_window_hours} h "
                f"(from {before:,.2f} to {latest_price:,.2f})"
            ),
            dedupe_key=f"large_move:{instrument.id}:{direction}:{bucket}",
            details={"move": round(move, 6), "window_hours": settings.large_move_window_hours},
            now=now,
        )
        if alert is not None:
            raised.append(alert.dedupe_key)
    return raised


def check_stale_data(session: Session, settings: AlertSettings, now: datetime) -> list[str]:
    """Alert when the newest candle of a tracked instrument is older than ``stale_data_minutes``."""
    raised = []
    limit = timedelta(minutes=settings.stale_data_minutes)
    for instrument in tracked_instruments(session):
        newest = session.scalar(
            select(Candle.ts).where(Candle.instrument_id == instrument.id).order_by(Candle.ts.desc()).limit(1)
        )
        if newest is None:
            message = f"{instrument.symbol}: no market data collected yet"
            key = f"stale:{instrument.id}:never"
        else:
            newest = ensure_utc(newest)
            age = now - newest
            if age <= limit:
                continue
            hours = age.total_seconds() / 3600
            message = f"{instrument.symbol}: newest candle is {hours:.1f} h old (from {newest:%Y-%m-%d %H:%M} UTC)"
            key = f"stale:{instrument.id}:{newest.isoformat()}"
        alert = raise_alert(
            session,
            kind=AlertKind.STALE_DATA,
            severity=AlertSeverity.WARNING,
            subject=f"instrument:{instrument.symbol}",
            message=message,
            dedupe_key=key,
            now=now,
        )
        if alert is not None:
            raised.append(alert.dedupe_key)
    return raised


def check_workers(session: Session, settings: AlertSettings, now: datetime) -> list[str]:
    """Alert on workers whose last pass failed or whose heartbeat went silent (not stopped ones)."""
    raised = []
    silent = timedelta(minutes=settings.worker_silent_minutes)
    for beat in list_heartbeats(session):
        if beat.worker == RISK_WORKER_NAME:
            continue
        last_beat = ensure_utc(beat.last_beat_at)
        if beat.status is WorkerStatus.FAILED:
            message = f"worker {beat.worker} failed: {beat.last_error or 'unknown error'}"
            # One alert per failure streak, not per failed pass: the count of completed passes only
            # moves on a success, so it names the streak (a worker failing every minute alerts once).
            key = f"worker:{beat.worker}:failed:after-pass-{beat.passes or 0}"
            severity = AlertSeverity.WARNING
        elif beat.status is not WorkerStatus.STOPPED and now - last_beat > silent:
            minutes = (now - last_beat).total_seconds() / 60
            message = f"worker {beat.worker} silent for {minutes:.0f} min (status {beat.status.value})"
            key = f"worker:{beat.worker}:silent:{last_beat.isoformat()}"
            severity = AlertSeverity.CRITICAL
        else:
            continue
        alert = raise_alert(
            session,
            kind=AlertKind.WORKER_FAILING,
            severity=severity,
            subject=f"worker:{beat.worker}",
            message=message[:2000],
            dedupe_key=key,
            now=now,
        )
        if alert is not None:
            raised.append(alert.dedupe_key)
    return raised


def run_risk_pass(session: Session, *, now: datetime | None = None) -> MonitorReport:
    """Evaluate every account's breakers and every alert rule once."""
    now = now or utc_now()
    settings = load_alert_settings(session)
    limits = limits_or_halt(session, now=now)  # saved limits that do not validate halt trading
    report = MonitorReport()
    for account in known_accounts(session):
        evaluate_account_breaches(session, account, limits=limits, now=now)
        report.accounts_checked += 1
    report.alerts += check_large_moves(session, settings, now)
    report.alerts += check_stale_data(session, settings, now)
    report.alerts += check_workers(session, settings, now)
    return report


def instrument_symbol(session: Session, instrument_id: int) -> str | None:
    """Return the symbol of an instrument, or None."""
    instrument = session.get(Instrument, instrument_id)
    return None if instrument is None else instrument.symbol
