"""The analyst worker: runs the AI consensus on request and on a schedule, then scores old opinions.

One pass: re-queue requests whose worker died; claim and carry out every pending "analyse now"
request (progress written to the request row for the page); run the consensus for each tracked
instrument whose last run is older than the schedule; score opinions whose horizon has passed and
refresh the analysts' track records (only after new opinions or scores, else hourly); then evaluate
the strategies switched on as signal sources on their newly closed candles
(``core.backtest.signal_source``: signals become order intents that the executor's risk checks see
like every order). ``konsens worker analyst [--once]``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from core.ai.config import AIConfig, load_ai_config
from core.ai.context import NotEnoughData
from core.ai.engine import analyse_instrument, is_due, latest_decision_time
from core.ai.requests import claim_next_request, finish_request, requeue_stale_requests, set_progress
from core.ai.track_record import refresh_track_records, score_due_opinions
from core.db.engine import Database
from core.market.query import tracked_instruments
from core.observability.tracing import continues
from core.system.shutdown import shutdown_requested
from core.timeutil import utc_now
from workers.runtime import WorkerLoop

logger = logging.getLogger(__name__)

WORKER_NAME = "analyst"
DEFAULT_INTERVAL_SECONDS = 15.0
MAX_REQUESTS_PER_PASS = 20

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def process_requests(database: Database, config: AIConfig, *, worker_id: str = WORKER_ID) -> list[int]:
    """Claim and carry out pending requests; return the ids of the requests handled."""
    handled: list[int] = []
    for _ in range(MAX_REQUESTS_PER_PASS):
        if shutdown_requested():  # a stop waits for the analysis under way, not for the whole queue
            break
        claimed = database.run(lambda session: _claim(session, worker_id))
        if claimed is None:
            break
        request_id, instrument_id = claimed

        def progress(message: str, request_id: int = request_id) -> None:
            database.run(lambda session: set_progress(session, request_id, message))

        _carry_out(database, config, request_id, instrument_id, progress)
        handled.append(request_id)
    return handled


@continues("analyst.request", lambda _database, _config, request_id, *_args: f"analysis_request:{request_id}")
def _carry_out(
    database: Database, config: AIConfig, request_id: int, instrument_id: int, progress: Callable[[str], None]
) -> None:
    consensus_id: int | None = None
    reason: str | None = None
    try:
        consensus_id = analyse_instrument(database, instrument_id, config=config, progress=progress).consensus_id
    except Exception as error:  # recorded on the request; the pass goes on with the next one
        logger.warning("Analysis request %d failed: %s", request_id, error)
        reason = str(error) if isinstance(error, NotEnoughData | LookupError) else f"{type(error).__name__}: {error}"
    database.run(lambda session: finish_request(session, request_id, consensus_id=consensus_id, error=reason))


def _claim(session: Any, worker_id: str) -> tuple[int, int] | None:
    request = claim_next_request(session, worker_id)
    return None if request is None else (request.id, request.instrument_id)


def run_scheduled(database: Database, config: AIConfig) -> list[str]:
    """Run the consensus for every tracked instrument that is due; return their symbols."""
    now = utc_now()
    instruments = database.run(
        lambda session: [
            (instrument.id, instrument.symbol, latest_decision_time(session, instrument.id))
            for instrument in tracked_instruments(session)
        ]
    )
    ran: list[str] = []
    for instrument_id, symbol, last in instruments:
        if shutdown_requested():
            break
        if not is_due(last, now, config.schedule_minutes):
            continue
        try:
            analyse_instrument(database, instrument_id, config=config)
            ran.append(symbol)
        except NotEnoughData as error:
            logger.info("Skipping %s: %s", symbol, error)
    return ran


def run_strategies(database: Database) -> list[Any]:
    """Evaluate the strategy signal sources; the backtest code (numba, pandas) loads only if one is enabled."""
    from sqlalchemy import select

    from core.backtest.models import StrategySource

    enabled = database.run(
        lambda session: session.scalar(select(StrategySource.id).where(StrategySource.enabled.is_(True)).limit(1))
    )
    if enabled is None:
        return []
    from core.backtest.signal_source import run_signal_sources
    from core.config import get_settings

    return run_signal_sources(database, home=get_settings().home)


TRACK_RECORD_REFRESH_SECONDS = 3600.0  # without new opinions or scores the track records are refreshed this often
_track_records_refreshed_at: list[float] = []  # monotonic time of the last refresh in this process


def track_records_due(*, changed: bool, now: float | None = None) -> bool:
    """Whether to recompute the track records: after new opinions or scores, on the first pass, else hourly.

    Recomputing them reads every scored opinion; at rest (nothing new) that was most of the pass.
    """
    now = time.monotonic() if now is None else now
    last = _track_records_refreshed_at[-1] if _track_records_refreshed_at else None
    if changed or last is None or now - last >= TRACK_RECORD_REFRESH_SECONDS:
        _track_records_refreshed_at[:] = [now]
        return True
    return False


def run_pass(database: Database) -> dict[str, Any]:
    """One pass of the analyst worker (see the module docstring)."""
    config = database.run(load_ai_config)
    requeued = database.run(requeue_stale_requests)
    handled = process_requests(database, config)
    scheduled = run_scheduled(database, config)
    scored = database.run(lambda session: score_due_opinions(session, hold_band=config.hold_band))
    if track_records_due(changed=bool(handled or scheduled or scored)):
        database.run(refresh_track_records)
    strategies = run_strategies(database)
    return {
        "requests": len(handled),
        "requeued": requeued,
        "scheduled": scheduled,
        "scored": scored,
        "analysts": [provider.name for provider in config.enabled_providers],
        "strategy_signals": [f"{item.strategy} {item.symbol}: {item.outcome}" for item in strategies],
    }


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the analyst worker loop."""
    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=run_pass,
        interval_seconds=interval_seconds or DEFAULT_INTERVAL_SECONDS,
    )
