"""The loop every worker runs in: passes on a schedule, heartbeats, retries, clean SIGTERM.

A worker is a name, an interval and a ``run_pass`` function. ``--once`` runs one pass and
returns. What happens after a failed pass depends on the error's branch in the one exception
tree (``core.errors``): transient and uncertain errors (retry; look the outcome up, which the
next pass does first) are retried with exponential backoff, permanent ones wait the normal
interval (a human must act; the heartbeat says why). Any error is recorded on the heartbeat
row and the loop goes on; SIGTERM or SIGINT ends the loop after the
current pass (never in the middle of a write).

Every pass is counted and timed in the Prometheus metrics of :mod:`core.observability.metrics`:
its duration, and its work time apart (the duration less the waits inside it — for changes, a
rate limit, a retry backoff — counted by :mod:`core.system.waiting`); the heartbeat's
``last_pass_seconds`` is the work time;
with ``serve_metrics`` (set by ``konsens worker``) the loop also serves them on /metrics and
exports traces when an OTLP endpoint is configured.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from core.db.engine import Database
from core.errors import ErrorBranch, TransientError, error_branch
from core.observability import metrics
from core.system.heartbeats import record_heartbeat
from core.system.models import WorkerStatus
from core.system.shutdown import request_shutdown
from core.system.waiting import waited_seconds
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

PassResult = dict[str, Any] | None
__all__ = ["PassResult", "TransientError", "WorkerLoop", "retried_with_backoff"]


def retried_with_backoff(error: BaseException) -> bool:
    """Return True if a pass that failed with ``error`` is retried with backoff (by its branch)."""
    return error_branch(error) in (ErrorBranch.TRANSIENT, ErrorBranch.UNCERTAIN)


@dataclass
class WorkerLoop:
    """Run ``run_pass(database)`` every ``interval_seconds`` until stopped."""

    name: str
    database: Database
    run_pass: Callable[[Database], PassResult]
    interval_seconds: float = 60.0
    max_backoff_seconds: float = 300.0
    is_transient: Callable[[BaseException], bool] = lambda error: retried_with_backoff(error)
    stop_event: threading.Event = field(default_factory=threading.Event)
    serve_metrics: bool = False
    metrics_port: int | None = field(default=None, init=False)

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM and SIGINT (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("%s worker: received %s, stopping after the current pass", self.name, signal.Signals(signum).name)
        request_shutdown()
        self.stop_event.set()

    def stop(self) -> None:
        """Ask the loop to end after the current pass."""
        self.stop_event.set()

    def run(self, *, once: bool = False) -> int:
        """Run passes until stopped (or one pass with ``once``); return a process exit code."""
        started_at = utc_now()
        if self.serve_metrics:
            self._start_exports()
        metrics.WORKER_UP.labels(self.name).set(1)
        self._beat(WorkerStatus.STARTING, started_at=started_at)
        failures_in_a_row = 0
        exit_code = 0
        while not self.stop_event.is_set():
            began, waited_before = time.perf_counter(), waited_seconds()
            try:
                self._beat(WorkerStatus.RUNNING)
                info = self.run_pass(self.database)
                elapsed, work = self._pass_times(began, waited_before)
                failures_in_a_row = 0
                self._count_pass(elapsed, work, failed=False)
                self._beat(WorkerStatus.IDLE, pass_seconds=work, completed_pass=True, info=info)
                wait = self.interval_seconds
            except Exception as error:
                failures_in_a_row += 1
                elapsed, work = self._pass_times(began, waited_before)
                self._count_pass(elapsed, work, failed=True)
                message = f"{type(error).__name__}: {error}"
                logger.error("%s worker pass failed: %s", self.name, message)
                logger.debug("%s", traceback.format_exc())
                self._beat(WorkerStatus.FAILED, pass_seconds=work, error=message)
                exit_code = 1
                if self.is_transient(error):
                    wait = min(self.max_backoff_seconds, 2 ** min(failures_in_a_row, 10))
                else:
                    wait = self.interval_seconds
            if once:
                break
            self.stop_event.wait(wait)
        self._beat(WorkerStatus.STOPPED)
        metrics.WORKER_UP.labels(self.name).set(0)
        return exit_code if once else 0

    def _start_exports(self) -> None:
        from core.logging_setup import set_log_context
        from core.observability.serve import serve_process_metrics
        from core.observability.tracing import configure_tracing

        set_log_context(worker=self.name)
        configure_tracing(self.name)
        self.metrics_port = serve_process_metrics(self.name, self.database)

    @staticmethod
    def _pass_times(began: float, waited_before: float) -> tuple[float, float]:
        """The pass's duration and its work time (the duration less what it waited: :mod:`core.system.waiting`)."""
        elapsed = time.perf_counter() - began
        waited = waited_seconds() - waited_before
        return elapsed, max(0.0, elapsed - waited)

    def _count_pass(self, seconds: float, work_seconds: float, *, failed: bool) -> None:
        metrics.WORKER_PASSES.labels(self.name).inc()
        metrics.WORKER_PASS_DURATION.labels(self.name).observe(seconds)
        metrics.WORKER_PASS_WORK.labels(self.name).observe(work_seconds)
        if failed:
            metrics.WORKER_PASS_FAILURES.labels(self.name).inc()
        else:
            metrics.WORKER_LAST_SUCCESS.labels(self.name).set(time.time())

    def _beat(self, status: WorkerStatus, **kwargs: Any) -> None:
        try:
            self.database.run(lambda session: record_heartbeat(session, self.name, status, **kwargs))
        except Exception as error:  # a heartbeat must never kill the worker
            logger.warning("%s worker: heartbeat not written: %s", self.name, error)
