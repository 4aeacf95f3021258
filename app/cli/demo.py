"""``konsens demo [--if-empty]``: seed the deterministic demo data (idempotent)."""

from __future__ import annotations

import typer

from app.cli._common import open_database
from core.config import get_settings


def register(cli: typer.Typer) -> None:
    @cli.command("demo")
    def demo(
        if_empty: bool = typer.Option(
            False, "--if-empty", help="Seed only into an empty database (and only if KONSENS_DEMO_ON_EMPTY is true)."
        ),
    ) -> None:
        """Seed demo data (synthetic market, news, paper account, demo login) into the database."""
        from core.demo.seed import DEMO_PASSWORD, DEMO_USERNAME, database_is_empty, seed_demo

        database = open_database()
        if if_empty:
            with database.session() as session:
                empty = database_is_empty(session)
            if not empty or not get_settings().demo_on_empty:
                typer.echo("Database migrated; it holds data (or demo seeding is off): no demo data seeded.")
                return
        context = seed_demo(database)
        candles = sum(len(frame) for frame in context.candles.values())
        typer.echo(
            f"Demo data ready: {len(context.instruments)} instruments, {candles} hourly candles, "
            f"paper account '{context.account}'. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
        )
