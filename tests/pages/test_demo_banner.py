"""The demo banner: on every page while demo data is present, and it says when not all of it is there yet."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.demo.state import SETTING_DEMO_SEED_FINISHED_AT
from core.system.models import SettingValue

INCOMPLETE = "Not all of it is there yet"


def test_the_banner_says_while_the_demo_seed_has_not_finished(
    demo_database: Database, run_page: Callable[..., AppTest]
) -> None:
    finished = [info.value for info in run_page("news").info]
    assert any("**Demo data.**" in text for text in finished)
    assert not any(INCOMPLETE in text for text in finished)

    def seed_still_running(session: Session) -> None:  # the base seed is in, the areas' demo data not yet
        session.execute(delete(SettingValue).where(SettingValue.key == SETTING_DEMO_SEED_FINISHED_AT))

    demo_database.run(seed_still_running)
    banner = next(info.value for info in run_page("news").info if "**Demo data.**" in info.value)
    assert INCOMPLETE in banner and "`konsens demo`" in banner
