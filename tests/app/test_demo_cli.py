"""``konsens demo --remove``: asks first, removes every demo row, then real acts are allowed."""

from __future__ import annotations

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
