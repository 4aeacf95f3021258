"""``konsens worker NAME [--once]``: run one worker in the foreground."""

from __future__ import annotations

import typer

from app.cli._common import fail, open_database
from workers.registry import worker_modules


def register(cli: typer.Typer) -> None:
    @cli.command("worker")
    def worker(
        name: str = typer.Argument(..., help="Worker to run (see `konsens worker --list`)."),
        once: bool = typer.Option(False, "--once", help="Run one pass, then exit."),
        interval: float | None = typer.Option(None, help="Seconds between passes (default: the worker's)."),
    ) -> None:
        """Run a background worker (market, news, analyst, executor, sync...)."""
        modules = worker_modules()
        if name not in modules:
            fail(f"unknown worker {name!r}; known workers: {', '.join(modules) or '(none)'}")
        database = open_database()
        loop = modules[name].build_worker(database, interval_seconds=interval)
        loop.serve_metrics = True
        loop.install_signal_handlers()
        raise typer.Exit(loop.run(once=once))
