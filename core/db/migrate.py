"""Apply the Alembic migrations (all heads: each area of Konsens keeps its own branch)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from core.db.engine import Database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Several processes (dashboard, workers, containers) may start at once; on PostgreSQL they take
# this advisory lock so that exactly one of them migrates and the others then find nothing to do.
MIGRATION_LOCK_ID = 0x4B6F6E73656E73  # "Konsens"


def alembic_config(database: Database) -> Config:
    """Return an Alembic config pointing at Konsens' migrations and ``database``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


def upgrade_database(database: Database) -> list[str]:
    """Bring the schema up to every head revision; return the heads now applied."""
    config = alembic_config(database)
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    return current_revisions(database)


def current_revisions(database: Database) -> list[str]:
    """Return the revisions the database is at."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return sorted(context.get_current_heads())


def pending_revisions(database: Database) -> list[str]:
    """Return the head revisions not yet applied."""
    heads = set(ScriptDirectory.from_config(alembic_config(database)).get_heads())
    return sorted(heads - set(current_revisions(database)))
