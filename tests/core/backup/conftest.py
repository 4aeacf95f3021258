"""Fixtures of the backup tests: the trading market, and a second, empty target of the same kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.db.engine import Database
from tests.core.execution.conftest import make_executor, market, trading_settings

__all__ = ["make_executor", "market", "target_database", "trading_settings"]


@pytest.fixture
def target_database(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database of the same kind as ``database`` to restore into (never migrated)."""
    if database.kind == "sqlite":
        target = Database(f"sqlite:///{tmp_path / 'restored' / 'konsens.db'}")
        yield target
        target.dispose()
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"konsens_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    target = Database(admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield target
    finally:
        target.dispose()
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
