from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from core.db.engine import Database
from core.system.settings_store import get_setting, get_utc_time_setting, set_setting, settings_with_prefix


def test_a_setting_round_trips_and_a_missing_one_gives_the_default(database: Database) -> None:
    with database.session() as session:
        set_setting(session, "lab.favourite", {"strategy": "sma-cross", "fast": 10})
        set_setting(session, "lab.other", 3)
    with database.session() as session:
        assert get_setting(session, "lab.favourite") == {"strategy": "sma-cross", "fast": 10}
        assert get_setting(session, "lab.missing", "none") == "none"
        set_setting(session, "lab.other", 4)  # an update, not a second row
    with database.session() as session:
        assert settings_with_prefix(session, "lab.") == {
            "lab.favourite": {"strategy": "sma-cross", "fast": 10},
            "lab.other": 4,
        }


def test_a_stored_time_comes_back_in_utc(database: Database) -> None:
    with database.session() as session:
        set_setting(session, "demo.walk_epoch", "2026-12-08T05:30:00+01:00")
    with database.session() as session:
        when = get_utc_time_setting(session, "demo.walk_epoch", "demo walk epoch")
    assert when == datetime(2026, 12, 8, 4, 30, tzinfo=UTC)
    assert when is not None and when.tzinfo is UTC


@pytest.mark.parametrize(
    ("stored", "logged"),
    [
        ("not a time", "Ignoring an unreadable demo anchor 'not a time'"),
        ("2026-12-08T04:30:00", "Ignoring a demo anchor without a time zone: '2026-12-08T04:30:00'"),
    ],
)
def test_an_unreadable_or_naive_stored_time_is_ignored_with_a_warning(
    database: Database, caplog: pytest.LogCaptureFixture, stored: str, logged: str
) -> None:
    with database.session() as session:
        set_setting(session, "demo.seeded_at", stored)
    with database.session() as session, caplog.at_level(logging.WARNING, logger="core.system.settings_store"):
        assert get_utc_time_setting(session, "demo.seeded_at", "demo anchor") is None
    assert logged in caplog.text


def test_an_absent_or_non_text_stored_time_is_none_without_a_warning(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with database.session() as session:
        set_setting(session, "demo.walk_epoch", 1733600000)
    with database.session() as session, caplog.at_level(logging.WARNING):
        assert get_utc_time_setting(session, "demo.walk_epoch", "demo walk epoch") is None
        assert get_utc_time_setting(session, "demo.seeded_at", "demo anchor") is None
    assert not caplog.records
