"""Shared fixtures: isolated settings, SQLite and PostgreSQL databases (each a fresh one), demo data.

PostgreSQL tests use the real server at ``KONSENS_TEST_PG_URL`` (default
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``) and create a database of their own.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import get_settings
from core.db.engine import Database, reset_database_cache
from core.db.migrate import upgrade_database
from core.logging_setup import NOISY_LIBRARY_LOGGERS
from tests.shared_data import SHARED_DATA_ENV, shared_data_path

PG_ADMIN_URL = os.environ.get("KONSENS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what ``configure_logging`` (run by CLI commands) does to the process-wide logging state."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    library_levels = {name: logging.getLogger(name).level for name in NOISY_LIBRARY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in library_levels.items():
        logging.getLogger(name).setLevel(library_level)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give every test its own KONSENS_HOME and no KONSENS_* variables from the environment."""
    for name in list(os.environ):
        if name.startswith("KONSENS_") and name not in {"KONSENS_TEST_PG_URL", SHARED_DATA_ENV}:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "konsens-home"
    monkeypatch.setenv("KONSENS_HOME", str(home))
    get_settings.cache_clear()
    reset_database_cache()
    yield home
    get_settings.cache_clear()
    reset_database_cache()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-world data folder (``KONSENS_SHARED_DATA``); skipped if missing, failed under CI."""
    return shared_data_path()


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (required in CI)")
        pytest.skip("PostgreSQL is not reachable")
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """Create a fresh PostgreSQL database for one test and drop it afterwards."""
    name = f"konsens_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database in a temporary file."""
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    upgrade_database(database)
    yield database
    database.dispose()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database of its own."""
    database = Database(postgres_url)
    upgrade_database(database)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """A migrated database; tests using it run once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_database")
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def configured_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """Point KONSENS_DATABASE_URL at a migrated SQLite file and return it (for CLI and page tests)."""
    url = f"sqlite:///{tmp_path / 'configured.db'}"
    monkeypatch.setenv("KONSENS_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_database_cache()
    from core.db.engine import get_database

    database = get_database()
    upgrade_database(database)
    return database


@pytest.fixture(scope="session")
def demo_database_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the full demo data, seeded once per test session (copy it to modify)."""
    from core.demo.seed import seed_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    database = Database(f"sqlite:///{path}")
    upgrade_database(database)
    seed_demo(database)
    database.dispose()
    return path


@pytest.fixture
def demo_database(demo_database_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A private copy of the demo database, configured as KONSENS_DATABASE_URL."""
    import shutil

    path = tmp_path / "demo-copy.db"
    shutil.copy(demo_database_file, path)
    monkeypatch.setenv("KONSENS_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    reset_database_cache()
    from core.db.engine import get_database

    return get_database()
