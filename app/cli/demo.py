"""``konsens demo``: seed the deterministic demo data (idempotent)."""

from __future__ import annotations

import typer

from app.cli._common import open_database
from core.demo.seed import DEMO_PASSWORD, DEMO_USERNAME, seed_demo


def register(cli: typer.Typer) -> None:
    @cli.command("demo")
    def demo() -> None:
        """Seed demo data (synthetic market, news, paper account, demo login) into the database."""
        database = open_database()
        context = seed_demo(database)
        candles = sum(len(frame) for frame in context.candles.values())
        typer.echo(
            f"Demo data ready: {len(context.instruments)} instruments, {candles} hourly candles, "
            f"paper account '{context.account}'. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
        )
