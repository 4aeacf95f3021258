"""``konsens demo --remove``: asks first, removes every demo row, then real acts are allowed."""

from __future__ import annotations

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.security.demo_guard import demo_data_present
from core.system.models import UserAccount

runner = CliRunner()


def test_remove_asks_then_ends_demo_mode_and_user_add_works_afterwards(demo_database: Database) -> None:
    refused = runner.invoke(cli, ["user", "add", "anna"])
    assert refused.exit_code == 1
    assert "adding a login is refused" in refused.output and "konsens demo --remove" in refused.output
    declined = runner.invoke(cli, ["demo", "--remove"], input="n\n")
    assert declined.exit_code == 1 and demo_database.run(demo_data_present)
    removed = runner.invoke(cli, ["demo", "--remove"], input="y\n")
    assert removed.exit_code == 0, removed.output
    assert "Demo mode ended" in removed.output
    assert not demo_database.run(demo_data_present)
    assert demo_database.run(lambda s: s.get(UserAccount, "demo")) is None
    again = runner.invoke(cli, ["demo", "--remove", "--yes"])
    assert again.exit_code == 0 and "No demo data in this database" in again.output
    added = runner.invoke(cli, ["user", "add", "anna"], input="correct horse battery\ncorrect horse battery\n")
    assert added.exit_code == 0, added.output
    if_empty = runner.invoke(cli, ["demo", "--if-empty"])
    assert if_empty.exit_code == 0 and "no demo data seeded" in if_empty.output
    reseed = runner.invoke(cli, ["demo"])
    assert reseed.exit_code == 1 and "seeding demo data is refused" in reseed.output
    assert not demo_database.run(demo_data_present)


def test_if_empty_finishes_a_demo_seed_that_was_stopped_and_only_that(demo_database: Database) -> None:
    from sqlalchemy import delete

    from core.demo.state import SETTING_DEMO_SEED_FINISHED_AT, demo_seed_unfinished
    from core.news.models import NewsItem
    from core.system.models import SettingValue

    def news_count() -> int:
        return demo_database.run(lambda session: session.query(NewsItem).count())

    seeded_news = news_count()
    assert seeded_news > 0 and not demo_database.run(demo_seed_unfinished)
    already = runner.invoke(cli, ["demo", "--if-empty"])
    assert already.exit_code == 0 and "no demo data seeded" in already.output

    def stop_after_the_base_seed(session: Session) -> None:  # as a Ctrl-C before the areas' demo data
        session.execute(delete(NewsItem))
        session.execute(delete(SettingValue).where(SettingValue.key == SETTING_DEMO_SEED_FINISHED_AT))

    demo_database.run(stop_after_the_base_seed)
    assert demo_database.run(demo_seed_unfinished) and news_count() == 0
    finished = runner.invoke(cli, ["demo", "--if-empty"])
    assert finished.exit_code == 0, finished.output
    assert "was stopped before its end: finishing it" in finished.output and "Demo data ready" in finished.output
    assert not demo_database.run(demo_seed_unfinished)
    assert news_count() == seeded_news  # the areas' demo data, once
