"""Engines and sessions for SQLite (default, WAL) and PostgreSQL, with retries and a health check.

Start-up cost matters here (every CLI command opens a database): the ORM (``sqlalchemy.orm``) is
imported when the first session is made, so a command that reads through SQLAlchemy Core
(:meth:`Database.read`) never loads it; retries go through :mod:`core.retry`, which imports
tenacity only when a retry is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from core.config import get_settings, redact_url
from core.db.errors import is_transient_db_error
from core.retry import call_with_retries

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Retries of Database.run / Database.read (core.retry's backoff): waits of 0.1, 0.2, 0.4 ... seconds, at most 5.
RETRY_FIRST_WAIT_SECONDS = 0.1
RETRY_MAX_WAIT_SECONDS = 5.0


def _with_retries(work: Callable[[], T], attempts: int) -> T:
    """Run ``work``; after a transient database error wait (:func:`core.retry.backoff_seconds`) and run it again.

    Through :func:`core.retry.call_with_retries`: tenacity is imported only once a retry is due.
    Retries are logged at DEBUG and counted under the service ``database``.
    """
    return call_with_retries(
        work,
        attempts=attempts,
        is_transient=is_transient_db_error,
        base_seconds=RETRY_FIRST_WAIT_SECONDS,
        max_seconds=RETRY_MAX_WAIT_SECONDS,
        sleep=time.sleep,
        description="database transaction",
        service="database",
        log_level=logging.DEBUG,
    )


@dataclass(frozen=True)
class DatabaseHealth:
    """The result of a health check, shown on the System page."""

    ok: bool
    kind: str
    url: str
    latency_ms: float
    size_bytes: int | None
    error: str | None = None
    timescaledb: bool = False


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_konsens_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the pooling and connection settings Konsens wants for ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_pre_ping=True,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {},
    )


class Database:
    """One engine and its session factory; the object every service is given.

    ``instrument=False`` leaves out the Prometheus statement metrics (and the import of
    ``prometheus_client``): for a short command that exports no metrics. :meth:`instrument` adds
    them later; :func:`get_database` does when a caller asks for them.
    """

    def __init__(self, url: str, *, echo: bool = False, instrument: bool = True):
        self.url = url
        self.engine = create_konsens_engine(url, echo=echo)
        self._session_factory: sessionmaker[Session] | None = None
        if instrument:
            self.instrument()

    def instrument(self) -> None:
        """Time every statement of the engine, count its errors and report its pool (idempotent)."""
        from core.observability.metrics import instrument_engine

        instrument_engine(self.engine)

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """The ORM session factory (made, and ``sqlalchemy.orm`` imported, on first use)."""
        if self._session_factory is None:
            from sqlalchemy.orm import sessionmaker

            self._session_factory = sessionmaker(self.engine, expire_on_commit=False)
        return self._session_factory

    @property
    def kind(self) -> str:
        """Return ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in a transaction: committed on success, rolled back on error."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``work`` in its own transaction, retrying transient errors with backoff.

        ``work`` must be safe to repeat: it runs again from the start after a rollback.
        """

        def once() -> T:
            with self.session() as session:
                return work(session)

        return _with_retries(once, attempts)

    def read(self, work: Callable[[Connection], T], *, attempts: int = 5) -> T:
        """Run ``work`` on a SQLAlchemy Core connection in its own transaction, with :meth:`run`'s retries.

        For read models that need no ORM (listing commands). ``work`` must be safe to repeat: it
        runs again from the start after a transient error.
        """

        def once() -> T:
            with self.engine.connect() as connection, connection.begin():
                return work(connection)

        return _with_retries(once, attempts)

    def health(self) -> DatabaseHealth:
        """Check the connection and report the database kind and size."""
        started = time.perf_counter()
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                size = self._size_bytes(connection)
                timescale = False
                if self.kind == "postgresql":
                    timescale = bool(
                        connection.execute(
                            text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
                        ).scalar()
                    )
            return DatabaseHealth(
                ok=True,
                kind=self.kind,
                url=redact_url(self.url),
                latency_ms=(time.perf_counter() - started) * 1000,
                size_bytes=size,
                timescaledb=timescale,
            )
        except Exception as error:  # reported, not raised: the System page shows it
            return DatabaseHealth(
                ok=False,
                kind=self.kind,
                url=redact_url(self.url),
                latency_ms=(time.perf_counter() - started) * 1000,
                size_bytes=None,
                error=f"{type(error).__name__}: {error}".splitlines()[0],
            )

    def _size_bytes(self, connection: Any) -> int | None:
        if self.kind == "sqlite":
            page_count = connection.execute(text("PRAGMA page_count")).scalar() or 0
            page_size = connection.execute(text("PRAGMA page_size")).scalar() or 0
            return int(page_count) * int(page_size)
        if self.kind == "postgresql":
            return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)
        return None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_database: Database | None = None
_database_lock = Lock()


def get_database(*, instrument: bool = True) -> Database:
    """Return the process-wide database for the configured URL (created on first use).

    ``instrument=False``: no Prometheus statement metrics unless an earlier caller asked for them.
    """
    global _database
    with _database_lock:
        url = get_settings().effective_database_url
        if _database is None or _database.url != url:
            _database = Database(url, instrument=instrument)
        elif instrument:
            _database.instrument()
        return _database


def reset_database_cache(dispose: bool = True) -> None:
    """Forget the process-wide database (tests, settings changes, a forked child).

    ``dispose=True`` closes its pooled connections. ``dispose=False`` drops the pool without
    closing them: for a child forked from the process that opened them, where they are the
    parent's (closing a PostgreSQL socket or the last SQLite handle would end or checkpoint them
    for the parent too); the child's next :func:`get_database` opens connections of its own.
    """
    global _database
    with _database_lock:
        if _database is not None:
            if dispose:
                _database.dispose()
            else:
                _database.engine.dispose(close=False)
        _database = None
