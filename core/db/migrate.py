"""Apply the Alembic migrations (all heads: each area of Konsens keeps its own branch)."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.db.engine import Database

if TYPE_CHECKING:  # Alembic is imported only when a migration may be needed (fast CLI start-up)
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Several processes (dashboard, workers, containers) may start at once; on PostgreSQL they take
# this advisory lock so that exactly one of them migrates and the others then find nothing to do.
MIGRATION_LOCK_ID = 0x4B6F6E73656E73  # "Konsens"


def alembic_config(database: Database) -> Config:
    """Return an Alembic config pointing at Konsens' migrations and ``database``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


def script_heads() -> set[str] | None:
    """The head revisions of the migration scripts, read from their source without Alembic.

    Return None if any script's ``revision`` / ``down_revision`` is not a plain literal (then
    only Alembic itself can tell).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        values = _revision_lines(text)
        if values is None:
            values = _revision_assignments(text)
        if values is None:
            return None
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(item) for item in down)
        elif down is not None:
            return None
    return revisions - parents


# ``revision: str = '0001_foundation'`` on one line at the top level (what Alembic writes).
_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)


def _revision_lines(text: str) -> dict[str, object] | None:
    """``revision`` / ``down_revision`` read from their lines (no parse of the whole script), or None.

    None when a name is not found exactly once or its value is not a one-line literal: then
    :func:`_revision_assignments` decides.
    """
    found = _REVISION_LINE.findall(text)
    names = [name for name, _ in found]
    if sorted(names) != ["down_revision", "revision"]:
        return None
    values: dict[str, object] = {}
    for name, value in found:
        try:
            values[name] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return None
    return values


def _revision_assignments(text: str) -> dict[str, object] | None:
    """``revision`` / ``down_revision`` from the script's parsed top-level assignments (None: not literals)."""
    values: dict[str, object] = {}
    for node in ast.parse(text).body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and value is not None:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                return None
    return values


def database_is_current(database: Database) -> bool:
    """True if the database is at exactly the scripts' heads (nothing to migrate): one query, no Alembic."""
    heads = script_heads()
    if not heads:
        return False
    try:
        with database.engine.connect() as connection:
            applied = {str(row[0]) for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:
        return False  # no version table yet: a fresh database
    return applied == heads


def upgrade_database(database: Database) -> list[str]:
    """Bring the schema up to every head revision; return the heads now applied.

    A database already at the heads is recognised by one query, without importing Alembic.
    """
    if database_is_current(database):
        heads = script_heads()
        return sorted(heads or ())
    from alembic import command

    config = alembic_config(database)
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    return current_revisions(database)


def current_revisions(database: Database) -> list[str]:
    """Return the revisions the database is at."""
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return sorted(context.get_current_heads())


def pending_revisions(database: Database) -> list[str]:
    """Return the head revisions not yet applied."""
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(database)).get_heads())
    return sorted(heads - set(current_revisions(database)))
