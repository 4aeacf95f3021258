"""Engines and sessions for SQLite (default, WAL) and PostgreSQL, with retries and a health check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.config import get_settings, redact_url
from core.db.errors import is_transient_db_error
from core.observability.metrics import instrument_engine

logger = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


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
    """One engine and its session factory; the object every service is given."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.engine = create_konsens_engine(url, echo=echo)
        instrument_engine(self.engine)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

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
        for attempt in Retrying(
            retry=retry_if_exception(is_transient_db_error),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.1, max=5),
            reraise=True,
        ):
            with attempt, self.session() as session:
                return work(session)
        raise AssertionError("unreachable")  # pragma: no cover

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


def get_database() -> Database:
    """Return the process-wide database for the configured URL (created on first use)."""
    global _database
    with _database_lock:
        url = get_settings().effective_database_url
        if _database is None or _database.url != url:
            _database = Database(url)
        return _database


def reset_database_cache() -> None:
    """Forget the process-wide database (tests and settings changes)."""
    global _database
    with _database_lock:
        if _database is not None:
            _database.dispose()
        _database = None
