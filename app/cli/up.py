"""``konsens up``: migrate, seed demo data into an empty database, start every worker and the dashboard.

A small supervisor: each worker runs as its own process (``konsens worker NAME``) and is
restarted with backoff if it dies; the dashboard is ``python -m app.server`` (``streamlit run
app/main.py`` with the pages' imports done before it serves). Ctrl-C or SIGTERM stops them all
(SIGTERM first, SIGKILL after a grace period).

The dashboard process starts first, so its imports run while the demo data is seeded (in a
child process, ``konsens demo --if-empty``, so the seeder's memory is not kept here); the
workers start after the seed. By default they are forked from this process after it has
imported what every worker imports first (``app/cli/_fork.py``), so those pages are shared
between the workers; ``--no-fork`` (or a process that runs other threads) starts each in a
fresh interpreter.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import typer

from app.cli._common import open_database
from app.cli._fork import ForkedProcess, can_fork, fork_command, preload
from core.config import get_settings
from core.demo.state import database_is_empty, demo_seed_unfinished
from core.observability.settings import ObservabilitySettings
from workers.registry import worker_names

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 15.0
# How a child stopped by Ctrl-C or SIGTERM exits: 128 + the signal (a shell's and our fork's convention), or
# minus the signal (``subprocess`` of a process killed by it)
STOPPED_EXIT_CODES = frozenset({128 + signal.SIGINT, -signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGTERM})


@dataclass
class ManagedProcess:
    """One process `konsens up` runs: a fresh interpreter on ``command``, or (``fork_args``) a
    child forked from `konsens up` that runs ``konsens FORK_ARGS`` (see ``app/cli/_fork.py``)."""

    name: str
    command: list[str]
    restart: bool
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    restarts: int = 0
    next_start_at: float = 0.0
    history: list[float] = field(default_factory=list)
    fork_args: list[str] | None = None
    title: str = ""  # the forked child's process name

    def start(self) -> None:
        if self.fork_args is not None:
            if can_fork():
                self.process = fork_command(self.fork_args, child_env(self.extra_env), title=self.title)
                logger.info("started %s (pid %s, forked)", self.name, self.process.pid)
                return
            logger.warning("%s: this process runs other threads, so it starts a fresh interpreter", self.name)
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=child_env(self.extra_env))
        logger.info("started %s (pid %s)", self.name, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process `konsens up` starts: its own, ``extra``, the project on PYTHONPATH."""
    return {
        **os.environ,
        **(extra or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }


def seed_in_child(*, fork: bool = True) -> int:
    """Seed the demo data in a child process (``konsens demo --if-empty``); return its exit code.

    The seeder imports pandas, numba and the areas' demo modules and builds 400 days of candles:
    done in this process, that memory would stay with the supervisor for as long as it runs. The
    child is forked (it starts with this process's imports) where that is safe, else a fresh
    interpreter.
    """
    if fork and can_fork():
        child = fork_command(["demo", "--if-empty"], child_env(), title="demo seed")
        try:
            return child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
    command = [sys.executable, "-m", "app.cli", "demo", "--if-empty"]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=child_env(), check=False).returncode


def dashboard_command(port: int, address: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "app.server",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
    ]


def register(cli: typer.Typer) -> None:
    @cli.command("up")
    def up(
        port: int | None = typer.Option(None, help="Dashboard port (default from settings, 8501)."),
        address: str | None = typer.Option(None, help="Dashboard address (default localhost)."),
        workers: str | None = typer.Option(None, help="Comma-separated workers to start (default: all)."),
        no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Start only the workers."),
        fork: bool = typer.Option(
            True,
            "--fork/--no-fork",
            help="Fork the workers from this process, sharing its imports (less memory); "
            "--no-fork starts each in a fresh interpreter.",
        ),
    ) -> None:
        """Start the workers and the dashboard together (Ctrl-C stops them all)."""
        settings = get_settings()
        database = open_database()
        available = worker_names()
        chosen = [name.strip() for name in workers.split(",")] if workers else list(available)
        unknown = [name for name in chosen if name not in available]
        if unknown:
            typer.secho(f"error: unknown worker(s): {', '.join(unknown)}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        ports = metrics_ports(chosen, list(available), dashboard=not no_dashboard)
        managed = [
            ManagedProcess(
                f"worker {name}",
                [sys.executable, "-m", "app.cli", "worker", name],
                restart=True,
                extra_env=_metrics_env(ports.get(name)),
                fork_args=["worker", name] if fork else None,
                title=name,
            )
            for name in chosen
        ]
        if not no_dashboard:
            port = port or settings.dashboard_port
            address = address or settings.dashboard_address
            dashboard = ManagedProcess(
                "dashboard",
                dashboard_command(port, address),
                restart=False,
                extra_env=_metrics_env(ports.get("dashboard")),
            )
            managed.append(dashboard)
            # The dashboard warms its imports while the demo data is seeded (its port opens after that).
            dashboard.start()
            typer.echo(f"Dashboard: http://{address}:{port}")
        with database.session() as session:
            empty = database_is_empty(session)
            unfinished = demo_seed_unfinished(session)
        database.dispose()  # no connection of this process is carried into a child
        if (empty and settings.demo_on_empty) or unfinished:
            typer.echo(
                "Finishing the demo seed that was stopped before its end..."
                if unfinished
                else "Empty database: seeding demo data (synthetic; a banner marks it)..."
            )
            try:
                code = seed_in_child(fork=fork)
            except KeyboardInterrupt:
                code = 128 + signal.SIGINT
            except BaseException:
                stop_all([item for item in managed if item.process is not None])
                raise
            # Ctrl-C reaches the seed too (whichever of the two sees it first): a stop, not a failure
            if code in STOPPED_EXIT_CODES:
                stop_all([item for item in managed if item.process is not None])
                typer.echo("Stopped while seeding the demo data; the next `konsens up` finishes the seed.")
                raise typer.Exit(130)
            if code != 0:
                stop_all([item for item in managed if item.process is not None])
                typer.secho(f"error: seeding the demo data failed (exit code {code})", err=True, fg=typer.colors.RED)
                raise typer.Exit(code)
        if ports:
            metrics_address = ObservabilitySettings().metrics_address
            listing = ", ".join(f"{name} {port}" for name, port in ports.items())
            typer.echo(f"Metrics (http://{metrics_address}:PORT/metrics): {listing}")
        if fork:
            preload()  # what every worker imports first, shared by the forked workers
        database.dispose()  # no connection of this process is carried into a worker
        raise typer.Exit(supervise(managed))


def metrics_ports(chosen: list[str], known: list[str], *, dashboard: bool) -> dict[str, int]:
    """Return the /metrics port of each process `konsens up` starts ({} when metrics are off)."""
    settings = ObservabilitySettings()
    if not settings.metrics_enabled:
        return {}
    table = settings.model_copy(update={"metrics_port": None})
    names = (["dashboard"] if dashboard else []) + chosen
    return {name: table.metrics_port_for(name, known) for name in names}


def _metrics_env(port: int | None) -> dict[str, str]:
    return {} if port is None else {"KONSENS_METRICS_PORT": str(port)}


def supervise(managed: list[ManagedProcess]) -> int:
    """Run the processes until a stop signal or the dashboard exits; return an exit code."""
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for item in managed:
            if item.process is None:  # the dashboard may have been started already
                item.start()
        while not stopping:
            time.sleep(0.5)
            for item in managed:
                if item.alive() or item.process is None:
                    continue
                if stopping:  # Ctrl-C reaches the workers too: their exits are the stop, not a crash
                    break
                code = item.process.returncode
                if not item.restart:
                    logger.info("%s exited with %s: stopping everything", item.name, code)
                    stopping = True
                    break
                now = time.monotonic()
                if item.next_start_at == 0.0:
                    delay = min(60.0, 2.0 ** min(item.restarts, 6))
                    item.next_start_at = now + delay
                    typer.secho(f"{item.name} exited with {code}; restarting in {delay:.0f} s", err=True)
                elif now >= item.next_start_at:
                    item.restarts += 1
                    item.next_start_at = 0.0
                    item.start()
    finally:
        stop_all(managed)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def stop_all(managed: list[ManagedProcess]) -> None:
    """SIGTERM every live process, wait, then SIGKILL what is left."""
    for item in managed:
        if item.alive() and item.process is not None:
            item.process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for item in managed:
        if item.process is None:
            continue
        try:
            item.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            item.process.kill()
            item.process.wait()
