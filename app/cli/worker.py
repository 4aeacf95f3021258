"""``konsens worker NAME [--once]``: run one worker in the foreground."""

from __future__ import annotations

import typer

from app.cli._common import fail, open_database
from workers.registry import worker_module, worker_names


def register(cli: typer.Typer) -> None:
    @cli.command("worker")
    def worker(
        name: str = typer.Argument(..., help="Worker to run (see `konsens worker --list`)."),
        once: bool = typer.Option(False, "--once", help="Run one pass, then exit."),
        interval: float | None = typer.Option(None, help="Seconds between passes (default: the worker's)."),
    ) -> None:
        """Run a background worker (market, news, analyst, executor, sync...)."""
        module = worker_module(name)  # only this worker's module (and what it imports)
        if module is None:
            fail(f"unknown worker {name!r}; known workers: {', '.join(worker_names()) or '(none)'}")
        database = open_database()
        loop = module.build_worker(database, interval_seconds=interval)
        loop.serve_metrics = True
        loop.install_signal_handlers()
        raise typer.Exit(loop.run(once=once))
