"""``konsens user add | list | remove | unlock``: dashboard logins (bcrypt hashes in ``users``)."""

from __future__ import annotations

import typer
from sqlalchemy.orm import Session

from app.cli._common import fail, open_database
from app.ui.format import vienna_time
from core.security.demo_guard import DemoModeError, RealAct, refuse_while_demo
from core.security.users import UserError, check_new_username, create_user, list_users, remove_user, unlock_user
from core.timeutil import utc_now


def register(cli: typer.Typer) -> None:
    user = typer.Typer(help="Dashboard logins.", no_args_is_help=True)

    @user.command("add")
    def add(
        username: str = typer.Argument(..., help="Login name: 3-60 characters of a-z, 0-9, '.', '_', '-'."),
        display_name: str | None = typer.Option(None, "--name", help="Name shown in the dashboard."),
        email: str | None = typer.Option(None, help="E-mail address (optional)."),
    ) -> None:
        """Create a login; the password is asked twice and never echoed."""
        database = open_database()
        try:
            database.run(lambda session: refuse_while_demo(session, RealAct.ADD_LOGIN))
            database.run(lambda session: check_new_username(session, username))
        except (UserError, DemoModeError) as error:
            fail(str(error))
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            database.run(
                lambda session: create_user(session, username, password, display_name=display_name, email=email)
            )
        except (UserError, DemoModeError) as error:
            fail(str(error))
        typer.echo(f"User {username.strip().lower()!r} created.")

    @user.command("list")
    def list_command() -> None:
        """List the logins (never their passwords)."""
        database = open_database()
        now = utc_now()

        def rows(session: Session) -> list[tuple[str, str, str, str]]:
            return [
                (
                    account.username,
                    account.display_name,
                    "demo" if account.is_demo else "",
                    f"locked until {vienna_time(account.locked_until)}"
                    if account.locked_until and account.locked_until > now
                    else "",
                )
                for account in list_users(session)
            ]

        found = database.run(rows)
        if not found:
            typer.echo("No users. Create one with `konsens user add USERNAME`.")
            return
        for username, display_name, demo, locked in found:
            typer.echo("  ".join(part for part in (f"{username:<20}", display_name, demo, locked) if part))

    @user.command("remove")
    def remove(
        username: str = typer.Argument(..., help="Login to delete."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        """Delete a login."""
        database = open_database()
        if not yes:
            typer.confirm(f"Delete user {username!r}?", abort=True)
        try:
            database.run(lambda session: remove_user(session, username))
        except UserError as error:
            fail(str(error))
        typer.echo(f"User {username!r} removed.")

    @user.command("unlock")
    def unlock(username: str = typer.Argument(..., help="Login to unlock.")) -> None:
        """Clear the lockout after too many wrong passwords."""
        database = open_database()
        try:
            database.run(lambda session: unlock_user(session, username))
        except UserError as error:
            fail(str(error))
        typer.echo(f"User {username!r} unlocked.")

    cli.add_typer(user, name="user")
