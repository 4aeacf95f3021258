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
  ``max_interval`` while nothing happens. SQLite cannot tell which table changed: every change
  is reported on every channel.

Notifications can be lost (a dropped listening connection, a writer with triggers disabled), so
callers keep a slow safety poll: ``wait`` always returns by its timeout. ``open_change_waiter``
starts listening at once, so a caller that opens the waiter and then looks misses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import select
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.db.engine import Database

logger = logging.getLogger(__name__)

CHANNEL_ORDERS = "konsens_orders"
CHANNEL_PRICES = "konsens_prices"
CHANNEL_RISK = "konsens_risk"
ALL_CHANNELS = (CHANNEL_ORDERS, CHANNEL_PRICES, CHANNEL_RISK)


class ChangeWaiter(Protocol):
    """Blocks until the database may have changed; returns the channels that changed."""

    def wait(self, timeout: float, stop_event: threading.Event | None = None) -> set[str]:
        """Return the channels notified within ``timeout`` seconds (empty: nothing seen)."""
        ...

    def close(self) -> None: ...


@dataclass
class SqliteChangeWaiter:
    """``PRAGMA data_version`` checked with an adaptive interval (see the module docstring)."""

    path: str
    channels: tuple[str, ...] = ALL_CHANNELS
    min_interval: float = 0.005
    max_interval: float = 0.05
    _connection: sqlite3.Connection | None = None
    _version: int | None = None
    _interval: float = 0.005
    checks: int = field(default=0, init=False)

    def _current(self) -> int:
        if self._connection is None:
            # Autocommit: no read transaction stays open, so each PRAGMA sees the newest commit.
            self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.checks += 1
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def wait(self, timeout: float, stop_event: threading.Event | None = None) -> set[str]:
        deadline = time.monotonic() + max(0.0, timeout)
        if self._version is None:
            self._version = self._current()
        while True:
            version = self._current()
            if version != self._version:
                self._version = version
                self._interval = self.min_interval
                return set(self.channels)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop_event is not None and stop_event.is_set()):
                return set()
            pause = min(self._interval, remaining)
            if stop_event is not None:
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

    def wait(self, timeout: float, stop_event: threading.Event | None = None) -> set[str]:
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
                driver.poll()
                while driver.notifies:
                    seen.add(str(driver.notifies.pop(0).channel))
                if seen:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stop_event is not None and stop_event.is_set()):
                    break
                # Short slices so a stop request is noticed quickly.
                select.select([driver], [], [], min(remaining, 0.25))
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
        waiter._version = waiter._current()  # changes from now on are reported
    return waiter


def open_change_waiter(
    database: Database, channels: Iterable[str] = ALL_CHANNELS, *, max_interval: float = 0.05
) -> ChangeWaiter:
    """Return the waiter for ``database`` (LISTEN on PostgreSQL, ``data_version`` on SQLite)."""
    wanted = tuple(channels)
    if database.kind == "postgresql":
        return _started(PostgresChangeWaiter(database, wanted))
    path = database.engine.url.database
    if not path or path == ":memory:":
        raise ValueError("an in-memory SQLite database has no other writers to wait for")
    return _started(SqliteChangeWaiter(path, wanted, max_interval=max_interval))
