"""``konsens worker executor``: carries out orders (paper and live), watches exits, reconciles on start.

One pass lasts ``executor_pass_seconds`` (one heartbeat per pass); in it the executor waits for
database changes (PostgreSQL LISTEN/NOTIFY, SQLite ``PRAGMA data_version``, see
``core/db/wakeup.py``) instead of querying in a loop. ``--once`` reconciles, works through what is
pending and returns.
"""

from __future__ import annotations

from typing import Any

from core.db.engine import Database
from core.execution.executor import Executor
from core.execution.settings import TradingSettings
from workers.runtime import WorkerLoop

WORKER_NAME = "executor"


class ExecutorLoop(WorkerLoop):
    """The worker loop that tells the pass whether it runs once (drain and return) or for a while."""

    once_mode: bool = False
    executor: Executor | None = None

    def run(self, *, once: bool = False) -> int:
        self.once_mode = once
        try:
            return super().run(once=once)
        finally:
            if self.executor is not None:
                self.executor.close()


def build_worker(database: Database, *, interval_seconds: float | None = None, **kwargs: Any) -> WorkerLoop:
    """Return the executor loop (``interval_seconds`` is the pause between passes)."""
    settings = TradingSettings()
    executor = Executor(database, settings=settings, **kwargs)
    loop: ExecutorLoop

    def run_pass(database: Database) -> dict[str, int]:
        stats = executor.run_pass(stop_event=loop.stop_event, until_idle=loop.once_mode)
        stream = executor.stream_status()
        if stream is not None:  # the live account stream's state, for the System page (once a pass)
            from core.execution.live_stream import STREAM_STATUS_SETTING
            from core.system.settings_store import set_setting

            database.run(lambda session: set_setting(session, STREAM_STATUS_SETTING, stream))
        return stats

    loop = ExecutorLoop(
        WORKER_NAME,
        database,
        run_pass,
        interval_seconds=settings.executor_poll_seconds if interval_seconds is None else interval_seconds,
    )
    loop.executor = executor
    return loop
