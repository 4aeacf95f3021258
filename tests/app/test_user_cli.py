from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.security.users import UserAccount, verify_password

runner = CliRunner()


def test_user_add_asks_twice_and_stores_a_bcrypt_hash(configured_sqlite: Database) -> None:
    result = runner.invoke(cli, ["user", "add", "Alice", "--name", "Alice A."], input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert "User 'alice' created." in result.output
    assert "s3cret-pass" not in result.output
    user = configured_sqlite.run(lambda s: s.get(UserAccount, "alice"))
    assert user is not None and user.display_name == "Alice A."
    assert user.password_hash.startswith("$2b$") and verify_password("s3cret-pass", user.password_hash)


def test_user_add_refuses_bad_input_with_one_clear_line(configured_sqlite: Database) -> None:
    short = runner.invoke(cli, ["user", "add", "bob"], input="short\nshort\n")
    assert short.exit_code == 1
    assert "error: password must have at least 8 characters" in short.output
    bad_name = runner.invoke(cli, ["user", "add", "x!"])
    assert bad_name.exit_code == 1 and "error: username must be" in bad_name.output
    runner.invoke(cli, ["user", "add", "carol"], input="long enough\nlong enough\n")
    taken = runner.invoke(cli, ["user", "add", "carol"])
    assert taken.exit_code == 1 and "error: user 'carol' exists already" in taken.output
    assert configured_sqlite.run(lambda s: s.get(UserAccount, "bob")) is None


def test_user_list_and_remove(configured_sqlite: Database) -> None:
    runner.invoke(cli, ["user", "add", "dave"], input="long enough\nlong enough\n")
    listed = runner.invoke(cli, ["user", "list"])
    assert listed.exit_code == 0 and "dave" in listed.output and "$2b$" not in listed.output
    removed = runner.invoke(cli, ["user", "remove", "dave", "--yes"])
    assert removed.exit_code == 0 and "removed" in removed.output
    missing = runner.invoke(cli, ["user", "remove", "dave", "--yes"])
    assert missing.exit_code == 1 and "error: user 'dave' does not exist" in missing.output
    assert "No users." in runner.invoke(cli, ["user", "list"]).output
