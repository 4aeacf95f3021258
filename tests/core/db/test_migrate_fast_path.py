"""The start-up check 'is the schema current?' agrees with Alembic and needs no Alembic import."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from core.db.engine import Database
from core.db.migrate import alembic_config, database_is_current, script_heads, upgrade_database


def test_script_heads_read_from_source_equal_alembics_heads(database: Database) -> None:
    alembic_heads = set(ScriptDirectory.from_config(alembic_config(database)).get_heads())
    assert script_heads() == alembic_heads


def test_a_migrated_database_is_current_and_a_behind_one_is_not(database: Database) -> None:
    upgrade_database(database)
    assert database_is_current(database)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM alembic_version WHERE version_num = '0050_tax'")
    assert not database_is_current(database)
