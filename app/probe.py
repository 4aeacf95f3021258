"""Container health probe for a worker: ``python -m app.probe worker NAME [--max-age SECONDS]``.

Kubernetes (``deploy/k8s``) runs it as the liveness and start-up probe of each worker pod. The
worker is alive when its heartbeat row was written by a process on this host (the pod) within
``--max-age`` seconds; a worker that is stuck in a pass, or never started, is not. It imports only
the settings, the database layer and the heartbeat table, so a probe costs a fraction of a second.
Exit 0 = alive (or not judged: the database is unreachable), 1 = not alive (one line on stderr says why).
"""

from __future__ import annotations

import argparse
import socket
import sys
from datetime import datetime, timedelta

from core.system.models import WorkerHeartbeat
from core.timeutil import utc_now


def worker_liveness(heartbeat: WorkerHeartbeat | None, *, host: str, max_age: timedelta, now: datetime) -> str | None:
    """Return why the worker is not alive, or None when its heartbeat is fresh and from ``host``."""
    if heartbeat is None:
        return "no heartbeat yet"
    if heartbeat.host != host:
        return f"the last heartbeat is from host {heartbeat.host!r}, not this one ({host!r})"
    age = now - heartbeat.last_beat_at
    if age > max_age:
        return f"the last heartbeat is {age.total_seconds():.0f} s old (limit {max_age.total_seconds():.0f} s)"
    return None


def main(argv: list[str] | None = None) -> int:
    """Check one worker's heartbeat; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m app.probe", description="Health probe for a worker.")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="Is this pod's worker alive?")
    worker.add_argument("name", help="worker name (market, news, analyst, executor, sync, portfolio, risk)")
    worker.add_argument("--max-age", type=float, default=900.0, help="seconds a heartbeat stays fresh (900)")
    arguments = parser.parse_args(argv)
    if arguments.max_age <= 0:
        parser.error("--max-age must be positive")

    from core.db.engine import get_database

    try:
        with get_database().session() as session:
            heartbeat = session.get(WorkerHeartbeat, arguments.name)
            reason = worker_liveness(
                heartbeat,
                host=socket.gethostname(),
                max_age=timedelta(seconds=arguments.max_age),
                now=utc_now(),
            )
    except Exception as error:
        # The database is unreachable: the worker cannot be judged, and restarting it would not bring
        # the database back (a liveness probe must not cascade an outage into restart loops).
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        sys.stderr.write(f"{arguments.name}: cannot read the heartbeat, not judged: {detail}\n")
        return 0
    if reason is not None:
        sys.stderr.write(f"{arguments.name}: {reason}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
