"""Data migrations: what they write into an existing database, once."""

from __future__ import annotations

from alembic import command

from core.db.engine import Database
from core.db.migrate import alembic_config, upgrade_database
from core.demo.state import SETTING_DEMO_SEED_FINISHED_AT, SETTING_DEMO_SEEDED_AT, demo_seed_unfinished
from core.system.settings_store import get_setting, set_setting

ANCHOR = "2026-11-20T09:00:00+00:00"


def _without_0260(database: Database) -> None:
    """The schema as it was before revision 0260 (every other head stays applied)."""
    command.downgrade(alembic_config(database), "0100_sec_users")


def test_0260_marks_a_demo_seed_from_before_the_mark_as_finished_once(
    database: Database,
) -> None:
    upgrade_database(database)
    _without_0260(database)
    with database.session() as session:  # a demo seed as it was stored before the seed marked its end
        set_setting(session, SETTING_DEMO_SEEDED_AT, ANCHOR)
    upgrade_database(database)
    with database.session() as session:
        assert get_setting(session, SETTING_DEMO_SEED_FINISHED_AT) == ANCHOR
        assert not demo_seed_unfinished(session)
    _without_0260(database)  # the downgrade keeps the mark; the upgrade again writes nothing twice
    upgrade_database(database)
    with database.session() as session:
        assert get_setting(session, SETTING_DEMO_SEED_FINISHED_AT) == ANCHOR
        assert get_setting(session, SETTING_DEMO_SEEDED_AT) == ANCHOR


def test_0260_writes_nothing_without_demo_data_and_keeps_a_mark_the_seed_wrote(database: Database) -> None:
    upgrade_database(database)
    _without_0260(database)
    upgrade_database(database)
    with database.session() as session:
        assert get_setting(session, SETTING_DEMO_SEED_FINISHED_AT) is None
        set_setting(session, SETTING_DEMO_SEEDED_AT, ANCHOR)
        set_setting(session, SETTING_DEMO_SEED_FINISHED_AT, "2026-11-20T09:00:14+00:00")
    _without_0260(database)
    upgrade_database(database)  # a mark the seed wrote is kept as it is
    with database.session() as session:
        assert get_setting(session, SETTING_DEMO_SEED_FINISHED_AT) == "2026-11-20T09:00:14+00:00"
