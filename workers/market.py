"""The market worker: per tracked instrument, incremental candles and a quote from its default source.

Each pass walks the tracked instruments; for each it collects every configured timeframe the
instrument's ``default_source`` offers (from the last stored candle on, so the forming candle is
updated) and stores a quote. One failing instrument never stops the others: its error is recorded
in the heartbeat info. If any instrument failed transiently (timeout, 429, 5xx), the pass raises
``TransientError`` after finishing the others, so the loop retries sooner, with backoff.

Streaming (``market_streaming``, on by default): at the first pass the worker starts a
``StreamingService`` (``core/market/streaming.py``) with one feed per source that streams — the
demo source (synthetic ticks on its walk) and every ccxt exchange with ``has['ws']`` (ccxt.pro,
``core/market/sources/ccxt_stream.py``). Each feed backfills the candle gap over REST when it
(re)connects, then streams; a silent feed falls back to REST quotes and is retried with
backoff. Instruments whose feed is streaming get no REST quote in the pass (their candles are
still collected over REST, the safety net). The loop stops the streams when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.db.engine import Database
from core.demo.state import demo_walk_epoch
from core.errors import is_transient
from core.market.collection import collect_incremental, collect_quote
from core.market.models import Instrument
from core.market.query import tracked_instruments
from core.market.settings import MarketSettings
from core.market.sources.base import MarketData, MarketDataError
from core.market.sources.registry import load_credentials, normalise_source_name, open_market_data
from core.market.streaming import DemoTickFeed, Feed, FeedInstrument, FeedState, StreamingService
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
        demo_epoch = database.run(demo_walk_epoch) if name == "demo" else None
        return open_market_data(name, credentials=credentials, settings=settings, demo_epoch=demo_epoch)

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
        self.streams: StreamingService | None = None
        self.streaming_allowed = True
        self._sources_lock = threading.Lock()

    def source(self, database: Database, name: str) -> MarketData:
        """Return the (cached) adapter for a source name."""
        with self._sources_lock:
            if name not in self.sources:
                self.sources[name] = self.source_factory(database, name)
            return self.sources[name]

    # ----------------------------------------------------------------- streaming

    def build_feeds(self, instruments: list[Instrument], *, demo_epoch: datetime | None = None) -> list[Feed]:
        """One feed per streaming source of the tracked instruments (demo ticks, ccxt.pro).

        ``demo_epoch``: the database's demo walk epoch, so the demo ticks lie on its seeded market.
        """
        from core.market.sources.ccxt_stream import CcxtProFeed, exchange_streams

        by_source: dict[str, list[FeedInstrument]] = {}
        for instrument in instruments:
            try:
                name = normalise_source_name(instrument.default_source, self.settings)
            except MarketDataError:
                continue  # reported by the pass itself
            by_source.setdefault(name, []).append(
                FeedInstrument(instrument.id, instrument.symbol, instrument.exchange_symbol)
            )
        feeds: list[Feed] = []
        for name, members in sorted(by_source.items()):
            if name == "demo":
                feeds.append(
                    DemoTickFeed(members, tick_seconds=self.settings.market_demo_tick_seconds, epoch=demo_epoch)
                )
            elif name.startswith("ccxt:") and exchange_streams(name.split(":", 1)[1]):
                urls: dict[str, str] = {}
                if self.settings.market_ccxt_api_url:
                    urls.update(public=self.settings.market_ccxt_api_url, private=self.settings.market_ccxt_api_url)
                if self.settings.market_ccxt_ws_url:
                    urls["ws"] = self.settings.market_ccxt_ws_url
                feeds.append(
                    CcxtProFeed(
                        name.split(":", 1)[1],
                        members,
                        timeframes=list(self.settings.market_timeframes),
                        exchange_options={"urls": {"api": urls}} if urls else {},
                    )
                )
        return feeds

    def _feed_instruments(self, database: Database, feed: Feed) -> list[Instrument]:
        wanted = {member.instrument_id for member in feed.instruments}
        return [instrument for instrument in database.run(tracked_instruments) if instrument.id in wanted]

    def backfill_feed(self, database: Database, feed: Feed) -> None:
        """REST backfill of the gap since each instrument's last stored candle (before the stream starts)."""
        source = self.source(database, feed.source)
        for instrument in self._feed_instruments(database, feed):
            for timeframe in self.settings.market_timeframes:
                if timeframe in source.capabilities.timeframes:
                    collect_incremental(
                        database,
                        instrument,
                        source,
                        timeframe,
                        initial_history=timedelta(days=self.settings.market_initial_history_days),
                        now=self.clock(),
                    )

    def poll_feed(self, database: Database, feed: Feed) -> None:
        """REST quotes for the instruments of a feed that is down."""
        source = self.source(database, feed.source)
        for instrument in self._feed_instruments(database, feed):
            collect_quote(database, instrument, source)

    def start_streams(self, database: Database, instruments: list[Instrument]) -> None:
        feeds = self.build_feeds(instruments, demo_epoch=database.run(demo_walk_epoch))
        if not feeds:
            return
        self.streams = StreamingService(
            database,
            feeds,
            backfill=self.backfill_feed,
            rest_poll=self.poll_feed,
            flush_seconds=self.settings.market_stream_flush_seconds,
            silence_seconds=self.settings.market_stream_silence_seconds,
            fallback_poll_seconds=self.settings.market_stream_fallback_poll_seconds,
        )
        self.streams.start()
        logger.info("market worker: streaming %s", ", ".join(feed.name for feed in feeds))

    def _streaming_ids(self) -> set[int]:
        if self.streams is None:
            return set()
        ids: set[int] = set()
        for feed, status in zip(self.streams.feeds, self.streams.statuses(), strict=True):
            if status.state is FeedState.STREAMING:
                ids.update(member.instrument_id for member in feed.instruments)
        return ids

    def __call__(self, database: Database) -> dict[str, Any]:
        instruments: list[Instrument] = database.run(tracked_instruments)
        if self.settings.market_streaming and self.streaming_allowed and self.streams is None:
            self.start_streams(database, instruments)
        streaming = self._streaming_ids()
        details: dict[str, Any] = {}
        transient: list[str] = []
        totals = {"inserted": 0, "updated": 0, "quarantined": 0}
        for instrument in instruments:
            if shutdown_requested():
                break
            entry: dict[str, Any] = {"source": instrument.default_source}
            try:
                entry.update(self._collect(database, instrument, totals, quote=instrument.id not in streaming))
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
        info: dict[str, Any] = {"instruments": details, "tracked": len(instruments), **totals}
        info["quotes_pruned"] = self.prune(database)
        if self.streams is not None:
            info["feeds"] = {status.name: status.as_dict(self.clock()) for status in self.streams.statuses()}
        if transient:
            database.run(lambda session: record_heartbeat(session, WORKER_NAME, WorkerStatus.RUNNING, info=info))
            raise TransientError(f"source unavailable for {', '.join(transient)}; will retry with backoff")
        return info

    def prune(self, database: Database) -> int:
        """Delete quotes older than ``market_quote_retention_hours`` (small batches); return how many."""
        from core.market.retention import prune_quotes

        try:
            result = prune_quotes(
                database,
                keep_hours=self.settings.market_quote_retention_hours,
                batch_rows=self.settings.market_prune_batch_rows,
                max_batches=self.settings.market_prune_max_batches,
                now=self.clock(),
            )
        except Exception as error:  # pruning never fails the collection; retried next pass
            logger.warning("market worker: old quotes not pruned (%s)", error)
            return 0
        if result.deleted:
            logger.info(
                "market worker: pruned %d old quotes%s", result.deleted, "" if result.complete else " (more next pass)"
            )
        return result.deleted

    def _collect(
        self, database: Database, instrument: Instrument, totals: dict[str, int], *, quote: bool = True
    ) -> dict[str, Any]:
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
        if not quote:
            return {"timeframes": timeframes, "quote": "streaming"}
        new_quote = collect_quote(database, instrument, source)
        return {"timeframes": timeframes, "quote": "new" if new_quote else "unchanged"}

    def close(self) -> None:
        """Stop the streams and close every adapter."""
        if self.streams is not None:
            self.streams.stop()
            self.streams = None
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
    return MarketLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=market_pass,
        interval_seconds=interval_seconds if interval_seconds is not None else settings.market_interval_seconds,
        market_pass=market_pass,
    )


@dataclass
class MarketLoop(WorkerLoop):
    """The worker loop that stops the streams (and closes the adapters) when it ends."""

    market_pass: MarketPass | None = None

    def run(self, *, once: bool = False) -> int:
        if self.market_pass is not None:
            self.market_pass.streaming_allowed = not once  # one pass: REST only
        try:
            return super().run(once=once)
        finally:
            if self.market_pass is not None:
                self.market_pass.close()
