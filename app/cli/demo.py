"""``konsens demo [--if-empty] [--remove]``: seed the deterministic demo data (idempotent), or end demo mode."""

from __future__ import annotations

import typer

from app.cli._common import fail, open_database
from core.config import get_settings
from core.db.engine import Database
from core.demo.state import demo_seed_unfinished
from core.security.demo_guard import DemoModeError, demo_data_present

ACTOR = "cli"


def register(cli: typer.Typer) -> None:
    @cli.command("demo")
    def demo(
        if_empty: bool = typer.Option(
            False,
            "--if-empty",
            help="Seed only into an empty database (and only if KONSENS_DEMO_ON_EMPTY is true), "
            "or finish a demo seed that was stopped.",
        ),
        remove: bool = typer.Option(
            False, "--remove", help="End demo mode: delete every demo row, the demo login and the demo setting."
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="With --remove: do not ask for confirmation."),
    ) -> None:
        """Seed demo data (synthetic market, news, paper account, demo login), or remove it with --remove."""
        from core.demo.seed import DEMO_PASSWORD, DEMO_USERNAME, database_is_empty, seed_demo

        database = open_database()
        if remove:
            if if_empty:
                fail("--remove and --if-empty cannot be combined")
            _remove(database, yes=yes)
            return
        if if_empty:
            with database.session() as session:
                empty = database_is_empty(session)
                unfinished = demo_seed_unfinished(session)
            if not unfinished and (not empty or not get_settings().demo_on_empty):
                typer.echo("Database migrated; it holds data (or demo seeding is off): no demo data seeded.")
                return
            if unfinished:
                typer.echo("The demo seed here was stopped before its end: finishing it (nothing is written twice).")
        try:
            context = seed_demo(database)
        except DemoModeError as error:
            fail(str(error))
        candles = sum(len(frame) for frame in context.candles.values())
        typer.echo(
            f"Demo data ready: {len(context.instruments)} instruments, {candles} hourly candles, "
            f"paper account '{context.account}'. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
        )


def _remove(database: Database, *, yes: bool) -> None:
    from core.demo.removal import remove_demo

    if not database.run(demo_data_present):
        typer.echo("No demo data in this database: nothing removed.")
        return
    if not yes:
        typer.confirm(
            "Remove every demo row (instruments, candles, news, paper account, opinions, runs, alerts), "
            "the demo login and the demo setting? Your own data is kept",
            abort=True,
        )
    result = remove_demo(database, actor=ACTOR)
    typer.echo(
        f"Demo mode ended: {result.total_deleted} demo rows removed in "
        f"{len(result.deleted)} tables; the demo/demo login no longer exists."
    )
