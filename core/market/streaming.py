"""Streaming market data: feeds push quotes and forming candles, a sink stores them in batches.

- A *feed* (:class:`Feed`) runs in a thread of its own and pushes what it receives into the
  :class:`StreamSink`: ccxt.pro for exchanges whose ccxt class has ``has['ws']``
  (``core/market/sources/ccxt_stream.py``), synthetic ticks on the demo walk (:class:`DemoTickFeed`).
- The sink keeps the ticks in memory; :meth:`StreamSink.flush` stores them in one transaction
  per batch: quotes with ``INSERT ... ON CONFLICT DO NOTHING`` on (instrument, source, time), the
  latest version of each forming candle through ``store_candles`` (validated, upserted). A tick
  received twice, or a batch flushed again after a restart, stores nothing twice.
- :class:`StreamingService` owns the feeds, flushes every ``flush_seconds`` and runs the
  watchdog: a feed silent for longer than ``silence_seconds`` is *polling* — its instruments get
  REST quotes every ``fallback_poll_seconds``, one ``stale_data`` alert is raised (the risk
  alerts, so the existing notification channels send it) and the stream is restarted with
  exponential backoff. On every (re)connect the feed first backfills the candles since the last
  stored one over REST, then streams. Each feed's state (streaming / polling / stale), lag,
  reconnects, garbage frames and last error is saved in the setting ``market.feeds`` for the
  System page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from core.db.engine import Database
from core.market.timeframes import floor_to_grid
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

FEEDS_SETTING_KEY = "market.feeds"


class FeedState(StrEnum):
    STARTING = "starting"
    STREAMING = "streaming"
    POLLING = "polling"  # the stream is silent or down: REST polling until it is back
    STALE = "stale"  # neither the stream nor REST delivered for a while


@dataclass(frozen=True)
class StreamQuote:
    instrument_id: int
    ts: datetime
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclass(frozen=True)
class StreamCandle:
    instrument_id: int
    timeframe: str
    ts: datetime  # open time, on the timeframe grid
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass
class FeedStatus:
    """What the System page shows about one feed."""

    name: str
    source: str
    symbols: list[str]
    state: FeedState = FeedState.STARTING
    connected_at: datetime | None = None
    last_message_at: datetime | None = None
    last_rest_at: datetime | None = None
    messages: int = 0
    garbage: int = 0
    reconnects: int = 0
    last_error: str | None = None
    alerted: bool = False

    def lag_seconds(self, now: datetime) -> float | None:
        latest = max((t for t in (self.last_message_at, self.last_rest_at) if t is not None), default=None)
        return None if latest is None else max(0.0, (now - latest).total_seconds())

    def as_dict(self, now: datetime) -> dict[str, Any]:
        lag = self.lag_seconds(now)
        return {
            "source": self.source,
            "symbols": self.symbols,
            "state": self.state.value,
            "lag_seconds": None if lag is None else round(lag, 1),
            "messages": self.messages,
            "garbage": self.garbage,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "last_message_at": self.last_message_at.isoformat() if self.last_message_at else None,
        }


class StreamSink:
    """Thread-safe buffer of received ticks; ``flush`` stores them (batched, idempotent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._quotes: dict[tuple[int, str, datetime], StreamQuote] = {}
        self._candles: dict[tuple[int, str, str, datetime], StreamCandle] = {}

    def add_quote(self, source: str, quote: StreamQuote) -> None:
        if not quote.last.is_finite() or quote.last <= 0:
            raise ValueError(f"not a price: {quote.last}")
        with self._lock:
            self._quotes[(quote.instrument_id, source, quote.ts)] = quote

    def add_candle(self, source: str, candle: StreamCandle) -> None:
        with self._lock:
            self._candles[(candle.instrument_id, source, candle.timeframe, candle.ts)] = candle

    def pending(self) -> int:
        with self._lock:
            return len(self._quotes) + len(self._candles)

    def flush(self, database: Database) -> dict[str, int]:
        """Store everything received since the last flush; return counts. On failure the ticks are kept."""
        with self._lock:
            quotes, self._quotes = self._quotes, {}
            candles, self._candles = self._candles, {}
        if not quotes and not candles:
            return {"quotes": 0, "candles": 0}
        try:
            return database.run(lambda session: _store_batch(session, quotes, candles))
        except Exception:
            with self._lock:  # keep them for the next flush (newer ticks win)
                self._quotes = {**quotes, **self._quotes}
                self._candles = {**candles, **self._candles}
            raise


def _store_batch(
    session: Any,
    quotes: dict[tuple[int, str, datetime], StreamQuote],
    candles: dict[tuple[int, str, str, datetime], StreamCandle],
) -> dict[str, int]:
    from core.db.upsert import bulk_upsert
    from core.market.models import Quote

    if quotes:
        rows = [
            {"instrument_id": key[0], "source": key[1], "ts": key[2], "last": q.last, "bid": q.bid, "ask": q.ask}
            for key, q in quotes.items()
        ]
        bulk_upsert(
            session,
            Quote.__table__,  # type: ignore[arg-type]
            rows,
            conflict_columns=["instrument_id", "source", "ts"],
            update_columns=[],
        )
    stored_candles = 0
    if candles:
        import pandas as pd

        from core.market.store import store_candles

        groups: dict[tuple[int, str, str], list[StreamCandle]] = {}
        for (instrument_id, source, timeframe, _ts), candle in candles.items():
            groups.setdefault((instrument_id, source, timeframe), []).append(candle)
        for (instrument_id, source, timeframe), items in groups.items():
            frame = pd.DataFrame(
                {
                    "ts": pd.to_datetime([c.ts for c in items], utc=True),
                    "open": [c.open for c in items],
                    "high": [c.high for c in items],
                    "low": [c.low for c in items],
                    "close": [c.close for c in items],
                    "volume": [c.volume for c in items],
                }
            ).sort_values("ts")
            result = store_candles(
                session, frame.reset_index(drop=True), instrument_id=instrument_id, source=source, timeframe=timeframe
            )
            stored_candles += result.inserted + result.updated
    return {"quotes": len(quotes), "candles": stored_candles}


@dataclass(frozen=True)
class FeedInstrument:
    instrument_id: int
    symbol: str
    exchange_symbol: str | None = None


class Feed(Protocol):
    """A stream of one source for some instruments; ``run`` blocks until stopped or the stream fails."""

    name: str
    source: str
    instruments: list[FeedInstrument]

    def run(self, sink: StreamSink, status: FeedStatus, stop: threading.Event) -> None: ...


class DemoTickFeed:
    """Synthetic ticks on the demo walk (``core.market.demo_source``), one per instrument every ``tick_seconds``."""

    def __init__(
        self,
        instruments: list[FeedInstrument],
        *,
        tick_seconds: float = 1.0,
        source: str = "demo",
        epoch: datetime | None = None,
    ):
        self.name = f"{source}:stream"
        self.source = source
        self.instruments = instruments
        self.tick_seconds = tick_seconds
        self.epoch = epoch  # the database's demo walk epoch (None: ``DEMO_EPOCH``)

    def run(self, sink: StreamSink, status: FeedStatus, stop: threading.Event) -> None:
        from core.market.demo_source import DEMO_EPOCH, demo_tick_price

        epoch = self.epoch or DEMO_EPOCH
        while not stop.is_set():
            now = utc_now()
            for instrument in self.instruments:
                price = demo_tick_price(instrument.symbol, now, epoch=epoch)
                last = Decimal(str(round(price, 6 if price < 10 else 2)))
                sink.add_quote(self.source, StreamQuote(instrument.instrument_id, now, last))
                status.messages += 1
            status.last_message_at = now
            stop.wait(self.tick_seconds)


def candle_open_time(stamp: datetime, timeframe: str, *, stamp_is_close: bool) -> datetime:
    """The open time of the candle a stream stamped with ``stamp`` (its open, or its last millisecond)."""
    if stamp_is_close:
        stamp = stamp - timedelta(milliseconds=1)
    return floor_to_grid(stamp, timeframe)


Backfill = Callable[[Database, Feed], None]
RestPoll = Callable[[Database, Feed], None]
Alert = Callable[[Database, FeedStatus, str], None]


def raise_feed_alert(database: Database, status: FeedStatus, message: str) -> None:
    """Raise one ``stale_data`` alert for a feed (the risk alert channels deliver it)."""
    from core.risk.alerts import raise_alert
    from core.risk.models import AlertKind, AlertSeverity

    connected = status.connected_at.isoformat() if status.connected_at else "never"
    database.run(
        lambda session: raise_alert(
            session,
            kind=AlertKind.STALE_DATA,
            severity=AlertSeverity.WARNING,
            subject=f"feed:{status.name}",
            message=message,
            dedupe_key=f"feed:{status.name}:silent:{connected}",
            details={"feed": status.name, "symbols": status.symbols, "last_error": status.last_error},
        )
    )


@dataclass
class _Running:
    feed: Feed
    status: FeedStatus
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_poll: float = 0.0


@dataclass
class StreamingService:
    """Runs feeds in threads, flushes their ticks, watches their silence (see the module docstring)."""

    database: Database
    feeds: list[Feed]
    backfill: Backfill | None = None
    rest_poll: RestPoll | None = None
    alert: Alert = raise_feed_alert
    flush_seconds: float = 1.0
    silence_seconds: float = 30.0
    fallback_poll_seconds: float = 30.0
    max_backoff_seconds: float = 300.0
    status_seconds: float = 5.0
    sink: StreamSink = field(default_factory=StreamSink)
    _running: list[_Running] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last_status: float = 0.0

    def start(self) -> None:
        """Start every feed and the flush/watchdog thread."""
        for feed in self.feeds:
            running = _Running(feed, FeedStatus(feed.name, feed.source, [i.symbol for i in feed.instruments]))
            self._running.append(running)
            self._start_feed(running)
        self._thread = threading.Thread(target=self._loop, name="market-streams", daemon=True)
        self._thread.start()

    def statuses(self) -> list[FeedStatus]:
        return [running.status for running in self._running]

    def _start_feed(self, running: _Running) -> None:
        running.stop = threading.Event()
        running.status.connected_at = utc_now()
        running.status.state = FeedState.STARTING if running.status.reconnects == 0 else running.status.state
        running.thread = threading.Thread(
            target=self._run_feed, args=(running, running.stop), name=f"feed-{running.feed.name}", daemon=True
        )
        running.thread.start()

    def _run_feed(self, running: _Running, stop: threading.Event) -> None:
        status = running.status
        try:
            if self.backfill is not None:
                self.backfill(self.database, running.feed)  # the gap since the last stored candle, then stream
            running.feed.run(self.sink, status, stop)
        except Exception as error:
            status.last_error = f"{type(error).__name__}: {str(error)[:300]}"
            logger.warning("Market feed %s failed: %s", running.feed.name, status.last_error)

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.tick()
        self.tick()

    def tick(self, now_monotonic: float | None = None) -> None:
        """One flush and one watchdog check (the thread calls this every ``flush_seconds``)."""
        try:
            self.sink.flush(self.database)
        except Exception as error:
            logger.warning("Streamed market data not stored yet (%s); kept for the next flush", error)
        now = utc_now()
        clock = time.monotonic() if now_monotonic is None else now_monotonic
        for running in self._running:
            self._watch(running, now, clock)
        if clock - self._last_status >= self.status_seconds:
            self._last_status = clock
            self.save_statuses(now)

    def _watch(self, running: _Running, now: datetime, clock: float) -> None:
        if self._stop.is_set():
            return  # stopping: the feeds end because they were told to, not a stream to fall back from or alert on
        status = running.status
        alive = running.thread is not None and running.thread.is_alive()
        since = status.last_message_at or status.connected_at or now
        silent = (now - since).total_seconds() > self.silence_seconds
        if alive and not silent:
            if status.state is not FeedState.STREAMING and status.last_message_at is not None:
                if status.state is FeedState.POLLING:
                    logger.info("Market feed %s streams again", running.feed.name)
                status.state = FeedState.STREAMING
                status.alerted = False
                running.failures = 0
            return
        if status.state is not FeedState.POLLING and status.state is not FeedState.STALE:
            status.state = FeedState.POLLING
            reason = "stopped" if not alive else f"silent for {(now - since).total_seconds():.0f} s"
            message = f"Market stream {running.feed.name} {reason}: falling back to REST polling"
            logger.warning("%s (%s)", message, status.last_error or "no error")
            if not status.alerted:
                status.alerted = True
                try:
                    self.alert(self.database, status, message)
                except Exception as error:
                    logger.warning("Feed alert not stored: %s", error)
            running.failures += 1
            running.retry_at = clock + min(self.max_backoff_seconds, 2.0 ** min(running.failures, 8))
            running.stop.set()
        if self.rest_poll is not None and clock - running.last_poll >= self.fallback_poll_seconds:
            running.last_poll = clock
            try:
                self.rest_poll(self.database, running.feed)
                status.last_rest_at = now
                status.state = FeedState.POLLING
            except Exception as error:
                status.last_error = f"REST: {type(error).__name__}: {str(error)[:300]}"
                status.state = FeedState.STALE
        if clock >= running.retry_at and not (running.thread is not None and running.thread.is_alive()):
            status.reconnects += 1
            running.retry_at = clock + min(self.max_backoff_seconds, 2.0 ** min(running.failures + 1, 8))
            running.failures += 1
            logger.info("Market feed %s: reconnecting (attempt %d)", running.feed.name, status.reconnects)
            self._start_feed(running)

    def save_statuses(self, now: datetime | None = None) -> None:
        """Save every feed's status in the setting ``market.feeds`` (read by the System page)."""
        from core.system.settings_store import set_setting

        now = now or utc_now()
        value = {"updated_at": now.isoformat(), "feeds": {r.status.name: r.status.as_dict(now) for r in self._running}}
        try:
            self.database.run(lambda session: set_setting(session, FEEDS_SETTING_KEY, value))
        except Exception as error:
            logger.warning("Feed states not saved: %s", error)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the feeds, flush what they delivered and end the thread (the watchdog first: no stop is an outage)."""
        self._stop.set()
        for running in self._running:
            running.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for running in self._running:
            if running.thread is not None:
                running.thread.join(timeout)
        try:
            self.sink.flush(self.database)
        except Exception as error:
            logger.warning("Last streamed ticks not stored: %s", error)


def feed_statuses(session: Any) -> dict[str, Any]:
    """The saved feed states (``{"updated_at", "feeds": {name: {...}}}``), empty if none."""
    from core.system.settings_store import get_setting

    value = get_setting(session, FEEDS_SETTING_KEY, None)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class FeedOverview:
    """One feed as the System page lists it."""

    name: str
    source: str
    symbols: list[str]
    state: str
    lag_seconds: float | None
    reconnects: int
    garbage: int
    messages: int
    last_error: str | None


def feed_overview(
    session: Any, *, now: datetime | None = None, max_report_age_seconds: float = 60.0
) -> list[FeedOverview]:
    """The market worker's feeds with their state; all ``stale`` if the worker stopped reporting."""
    saved = feed_statuses(session)
    feeds = saved.get("feeds") or {}
    if not feeds:
        return []
    now = now or utc_now()
    try:
        reported = datetime.fromisoformat(str(saved.get("updated_at")))
        report_age = (now - reported).total_seconds()
    except ValueError:
        report_age = float("inf")
    rows = []
    for name, item in sorted(feeds.items()):
        lag = item.get("lag_seconds")
        state = str(item.get("state", FeedState.STALE.value))
        if report_age > max_report_age_seconds:
            state = FeedState.STALE.value
            lag = None if lag is None else float(lag) + report_age
        rows.append(
            FeedOverview(
                name=name,
                source=str(item.get("source", "")),
                symbols=list(item.get("symbols") or []),
                state=state,
                lag_seconds=None if lag is None else float(lag),
                reconnects=int(item.get("reconnects") or 0),
                garbage=int(item.get("garbage") or 0),
                messages=int(item.get("messages") or 0),
                last_error=item.get("last_error"),
            )
        )
    return rows
