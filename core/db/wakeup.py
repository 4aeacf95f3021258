"""Wait for the database to change instead of querying it in a loop.

A worker that reacts to rows other processes write (the executor: new orders, cancel requests,
risk-state changes, new prices) blocks in :meth:`ChangeWaiter.wait` until something may have
changed, then runs its (cheap) queries once.

- PostgreSQL: ``LISTEN`` on channels that triggers notify (migrations ``0130_live_notify`` and
  ``0131_live_risk_notify``: statement-level triggers on ``orders``, ``quotes``, ``candles`` and
  ``risk_trading_states``, so every writer notifies without calling anything, in its own
  transaction, delivered at commit). The waiter sleeps in ``select()`` on the listening socket.
- SQLite: ``PRAGMA data_version`` on a connection of its own changes whenever another connection
  commits. It reads the WAL index in shared memory (no disk read), so checking it is cheap; the
  waiter checks it with an adaptive interval — fast right after a change, backing off to
  ``max_interval`` while nothing happens. ``data_version`` moves on every commit of any writer
  (heartbeats, news, streamed quotes), so after a change the waiter reads the per-channel
  counters of ``change_counters`` (row triggers on ``orders`` and ``risk_trading_states``,
  migration ``0200_live_sqlite_changes``) and reports only the channels whose counter moved,
  plus ``konsens_prices`` (quotes and candles have no trigger: any other commit may be a price).
  Without that table (an older database) every change is reported on every channel. A channel
  without a counter may have a *probe* instead (``sqlite_probes``: a query on an indexed column,
  e.g. the queued jobs), reported only when the probe's row moved.
- A :class:`Nudge` (a self-pipe) wakes a waiter from another thread at once, e.g. the executor's
  live order stream; the waiter then reports :data:`CHANNEL_NUDGE`.

Notifications can be lost (a dropped listening connection, a writer with triggers disabled), so
callers keep a slow safety poll: ``wait`` always returns by its timeout. ``open_change_waiter``
starts listening at once, so a caller that opens the waiter and then looks misses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.db.engine import Database

logger = logging.getLogger(__name__)

CHANNEL_ORDERS = "konsens_orders"
CHANNEL_PRICES = "konsens_prices"
CHANNEL_RISK = "konsens_risk"
ALL_CHANNELS = (CHANNEL_ORDERS, CHANNEL_PRICES, CHANNEL_RISK)
CHANNEL_NUDGE = "konsens_nudge"  # not a database channel: another thread of this process nudged the waiter
COUNTED_CHANNELS = frozenset({CHANNEL_ORDERS, CHANNEL_RISK})  # channels with a SQLite counter


class Nudge:
    """Wake a waiting :class:`ChangeWaiter` from another thread (a self-pipe: ``select`` sees it at once)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.closed = False

    def fileno(self) -> int:
        return self._read

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # a full pipe is nudged already
            os.write(self._write, b"!")

    def consume(self) -> bool:
        """Return True (and clear it) if the nudge was set."""
        seen = False
        while True:
            try:
                chunk = os.read(self._read, 512)
            except (BlockingIOError, OSError):
                return seen
            if not chunk:
                return seen
            seen = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for fd in (self._read, self._write):
                with contextlib.suppress(OSError):
                    os.close(fd)


class ChangeWaiter(Protocol):
    """Blocks until the database may have changed; returns the channels that changed."""

    def wait(self, timeout: float, stop_event: threading.Event | None = None, nudge: Nudge | None = None) -> set[str]:
        """Return the channels notified within ``timeout`` seconds (empty: nothing seen)."""
        ...

    def close(self) -> None: ...


@dataclass
class SqliteChangeWaiter:
    """``PRAGMA data_version`` checked with an adaptive interval, then the channel counters (module docstring)."""

    path: str
    channels: tuple[str, ...] = ALL_CHANNELS
    min_interval: float = 0.005
    max_interval: float = 0.05
    _connection: sqlite3.Connection | None = None
    _version: int | None = None
    _interval: float = 0.005
    _counters: dict[str, int] | None = None
    _has_counters: bool | None = None
    probes: Mapping[str, str] = field(default_factory=dict)  # channel -> SQL whose one row changes with it
    _probed: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)
    checks: int = field(default=0, init=False)
    counter_reads: int = field(default=0, init=False)

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit: no read transaction stays open, so each PRAGMA sees the newest commit.
            self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        return self._connection

    def _current(self) -> int:
        self.checks += 1
        row = self._db().execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _read_counters(self) -> dict[str, int] | None:
        """The per-channel counters, or None if this database has no ``change_counters`` table."""
        if self._has_counters is False:
            return None
        self.counter_reads += 1
        try:
            rows = self._db().execute("SELECT channel, version FROM change_counters").fetchall()
        except sqlite3.OperationalError:  # an older database (before 0200): every channel on every change
            self._has_counters = False
            return None
        self._has_counters = True
        return {str(channel): int(version) for channel, version in rows}

    def _probe(self, channel: str) -> tuple[Any, ...] | None:
        """The probe's row for ``channel`` (None if the query fails: then every change is reported)."""
        try:
            row = self._db().execute(self.probes[channel]).fetchone()
        except sqlite3.Error:
            return None
        return tuple(row) if row is not None else ()

    def prime(self) -> None:
        """Remember the current state: changes from now on are reported."""
        self._version = self._current()
        self._counters = self._read_counters()
        self._probed = {channel: self._probe(channel) for channel in self.probes if channel in self.channels}

    def _changed_channels(self) -> set[str]:
        probed = self._probed_changes()
        if not set(self.channels) - set(self.probes):
            return probed  # only probed channels: no counters to read
        counters = self._read_counters()
        if counters is None or self._counters is None:
            self._counters = counters
            return set(self.channels)
        changed = {channel for channel, version in counters.items() if self._counters.get(channel) != version}
        self._counters = counters
        uncounted = {channel for channel in self.channels if channel not in COUNTED_CHANNELS | set(self.probes)}
        return (changed | uncounted | probed) & set(self.channels)

    def _probed_changes(self) -> set[str]:
        """The probed channels whose probe row moved (a failing probe counts as moved)."""
        changed: set[str] = set()
        for channel in self.probes:
            if channel not in self.channels:
                continue
            row = self._probe(channel)
            if row is None or row != self._probed.get(channel):
                changed.add(channel)
            self._probed[channel] = row
        return changed

    def wait(self, timeout: float, stop_event: threading.Event | None = None, nudge: Nudge | None = None) -> set[str]:
        deadline = time.monotonic() + max(0.0, timeout)
        if self._version is None:
            self.prime()
        while True:
            if nudge is not None and nudge.consume():
                return {CHANNEL_NUDGE}
            version = self._current()
            if version != self._version:
                self._version = version
                self._interval = self.min_interval
                changed = self._changed_channels()
                if changed:
                    return changed
                # Nothing this waiter listens for moved (a commit elsewhere): wait on.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop_event is not None and stop_event.is_set()):
                return set()
            pause = min(self._interval, remaining)
            if nudge is not None:
                select.select([nudge], [], [], pause)
            elif stop_event is not None:
                stop_event.wait(pause)
            else:
                time.sleep(pause)
            self._interval = min(self.max_interval, self._interval * 2)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class PostgresChangeWaiter:
    """``LISTEN`` on a dedicated connection; reconnects (and reports every channel) if it drops."""

    database: Database
    channels: tuple[str, ...] = ALL_CHANNELS
    _connection: Any = None
    reconnects: int = field(default=0, init=False)

    def _connect(self) -> Any:
        # A connection of its own, outside the pool: it stays in LISTEN for the process's life.
        engine = self.database.engine
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        connection: Any = engine.dialect.connect(*cargs, **cparams)
        connection.autocommit = True
        cursor = connection.cursor()
        for channel in self.channels:
            cursor.execute(f'LISTEN "{channel}"')
        cursor.close()
        self._connection = connection
        return connection

    def listening(self) -> bool:
        return self._connection is not None

    def start(self) -> None:
        """LISTEN now (before the caller's first look), not at the first wait."""
        if self._connection is None:
            try:
                self._connect()
            except Exception as error:
                logger.warning("Cannot listen for database changes yet (%s)", error)

    def wait(self, timeout: float, stop_event: threading.Event | None = None, nudge: Nudge | None = None) -> set[str]:
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            driver = self._connection if self._connection is not None else self._connect()
        except Exception as error:
            logger.warning("Cannot listen for database changes (%s); polling instead", error)
            self._sleep(timeout, stop_event)
            return set(self.channels)
        seen: set[str] = set()
        try:
            while not seen:
                if nudge is not None and nudge.consume():
                    seen.add(CHANNEL_NUDGE)
                driver.poll()
                while driver.notifies:
                    seen.add(str(driver.notifies.pop(0).channel))
                if seen:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop_event is not None and stop_event.is_set()):
                    break
                # Short slices so a stop request is noticed quickly; a nudge wakes the select at once.
                readable: list[Any] = [driver] if nudge is None else [driver, nudge]
                select.select(readable, [], [], min(remaining, 0.25))
        except Exception as error:
            logger.warning("Lost the database listening connection (%s); reconnecting", error)
            self.close()
            self.reconnects += 1
            try:  # listen again at once, so that nothing after this moment is missed
                self._connect()
            except Exception as reconnect_error:
                logger.warning("Cannot listen again yet (%s); retried on the next wait", reconnect_error)
            return set(self.channels)  # changes may have been missed: look once
        return seen

    @staticmethod
    def _sleep(seconds: float, stop_event: threading.Event | None) -> None:
        if stop_event is not None:
            stop_event.wait(seconds)
        else:
            time.sleep(seconds)

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone anyway
                connection.close()


def _started(waiter: SqliteChangeWaiter | PostgresChangeWaiter) -> ChangeWaiter:
    if isinstance(waiter, PostgresChangeWaiter):
        waiter.start()
    else:
        waiter.prime()  # changes from now on are reported
    return waiter


def open_change_waiter(
    database: Database,
    channels: Iterable[str] = ALL_CHANNELS,
    *,
    max_interval: float = 0.05,
    sqlite_probes: Mapping[str, str] | None = None,
) -> ChangeWaiter:
    """Return the waiter for ``database`` (LISTEN on PostgreSQL, ``data_version`` on SQLite).

    ``sqlite_probes`` (SQLite only): for a channel without a counter, a cheap query whose one row
    changes when the channel's rows do; the channel is then reported only when that row moved, not
    on every commit of any writer (PostgreSQL's triggers notify the channel itself).
    """
    wanted = tuple(channels)
    if database.kind == "postgresql":
        return _started(PostgresChangeWaiter(database, wanted))
    path = database.engine.url.database
    if not path or path == ":memory:":
        raise ValueError("an in-memory SQLite database has no other writers to wait for")
    return _started(SqliteChangeWaiter(path, wanted, max_interval=max_interval, probes=dict(sqlite_probes or {})))
