"""The market worker: per tracked instrument, incremental candles and a quote from its default source.

Each pass walks the tracked instruments; for each it collects every configured timeframe the
instrument's ``default_source`` offers (from the last stored candle on, so the forming candle is
updated) and stores a quote. One failing instrument never stops the others: its error is recorded
in the heartbeat info. If any instrument failed transiently (timeout, 429, 5xx), the pass raises
``TransientError`` after finishing the others, so the loop retries sooner, with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from core.db.engine import Database
from core.errors import is_transient
from core.market.collection import collect_incremental, collect_quote
from core.market.models import Instrument
from core.market.query import tracked_instruments
from core.market.settings import MarketSettings
from core.market.sources.base import MarketData, MarketDataError
from core.market.sources.registry import load_credentials, normalise_source_name, open_market_data
from core.system.heartbeats import record_heartbeat
from core.system.models import WorkerStatus
from core.system.shutdown import shutdown_requested
from core.timeutil import utc_now
from workers.runtime import TransientError, WorkerLoop

logger = logging.getLogger(__name__)

WORKER_NAME = "market"

SourceFactory = Callable[[Database, str], MarketData]


def default_source_factory(settings: MarketSettings) -> SourceFactory:
    """Return a factory that opens the adapter of a source name with its stored credentials."""

    def factory(database: Database, source_name: str) -> MarketData:
        name = normalise_source_name(source_name, settings)
        credentials = database.run(lambda session: load_credentials(session, name))
        return open_market_data(name, credentials=credentials, settings=settings)

    return factory


class MarketPass:
    """One pass over the tracked instruments; adapters are kept between passes (rate limits, sessions)."""

    def __init__(
        self, settings: MarketSettings, source_factory: SourceFactory, clock: Callable[[], datetime] = utc_now
    ):
        self.settings = settings
        self.clock = clock
        self.source_factory = source_factory
        self.sources: dict[str, MarketData] = {}

    def source(self, database: Database, name: str) -> MarketData:
        """Return the (cached) adapter for a source name."""
        if name not in self.sources:
            self.sources[name] = self.source_factory(database, name)
        return self.sources[name]

    def __call__(self, database: Database) -> dict[str, Any]:
        instruments: list[Instrument] = database.run(tracked_instruments)
        details: dict[str, Any] = {}
        transient: list[str] = []
        totals = {"inserted": 0, "updated": 0, "quarantined": 0}
        for instrument in instruments:
            if shutdown_requested():
                break
            entry: dict[str, Any] = {"source": instrument.default_source}
            try:
                entry.update(self._collect(database, instrument, totals))
                entry["status"] = "ok"
            except TransientError as error:  # the transient branch: SourceUnavailableError, ...
                transient.append(instrument.symbol)
                entry.update(status="unavailable", error=str(error)[:300])
            except MarketDataError as error:
                entry.update(status="error", error=str(error)[:300])
            except Exception as error:
                if is_transient(error):
                    transient.append(instrument.symbol)
                entry.update(status="error", error=f"{type(error).__name__}: {str(error)[:300]}")
                logger.exception("market worker: %s failed", instrument.symbol)
            if entry["status"] != "ok":
                logger.warning("market worker: %s: %s", instrument.symbol, entry.get("error"))
            details[instrument.symbol] = entry
        info = {"instruments": details, "tracked": len(instruments), **totals}
        if transient:
            database.run(lambda session: record_heartbeat(session, WORKER_NAME, WorkerStatus.RUNNING, info=info))
            raise TransientError(f"source unavailable for {', '.join(transient)}; will retry with backoff")
        return info

    def _collect(self, database: Database, instrument: Instrument, totals: dict[str, int]) -> dict[str, Any]:
        source = self.source(database, instrument.default_source)
        timeframes: dict[str, Any] = {}
        for timeframe in self.settings.market_timeframes:
            if timeframe not in source.capabilities.timeframes:
                timeframes[timeframe] = "not offered by the source"
                continue
            report = collect_incremental(
                database,
                instrument,
                source,
                timeframe,
                initial_history=timedelta(days=self.settings.market_initial_history_days),
                now=self.clock(),
            )
            timeframes[timeframe] = {
                "collected_from": report.start.isoformat(),
                **{key: value for key, value in report.result.as_dict().items() if value},
            }
            totals["inserted"] += report.result.inserted
            totals["updated"] += report.result.updated
            totals["quarantined"] += report.result.quarantined
        new_quote = collect_quote(database, instrument, source)
        return {"timeframes": timeframes, "quote": "new" if new_quote else "unchanged"}

    def close(self) -> None:
        """Close every adapter."""
        for source in self.sources.values():
            source.close()
        self.sources.clear()


def build_worker(
    database: Database,
    *,
    interval_seconds: float | None = None,
    settings: MarketSettings | None = None,
    source_factory: SourceFactory | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> WorkerLoop:
    """Return the market worker's loop (``konsens worker market [--once]``).

    ``settings``, ``source_factory`` and ``clock`` are for tests and embedding; the defaults read
    ``MarketSettings``, open real adapters with stored credentials and use the real time.
    """
    settings = settings or MarketSettings()
    market_pass = MarketPass(settings, source_factory or default_source_factory(settings), clock)
    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=market_pass,
        interval_seconds=interval_seconds if interval_seconds is not None else settings.market_interval_seconds,
    )
