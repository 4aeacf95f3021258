"""``konsens worker news``: collect news, posts and calendar events; each source on its own schedule.

The loop ticks every ``worker_tick_seconds`` (default 60 s); on each tick every source whose own
interval has passed is fetched (see :mod:`core.news.collector`). A failing source is recorded
per source (``news_source_states``, shown on the System page) and in the heartbeat info, and
never stops the others. Writes are idempotent: a pass repeated stores nothing twice.
"""

from __future__ import annotations

import logging

from core.db.engine import Database
from core.news.collector import NewsCollector
from core.news.settings import NewsSettings
from workers.runtime import PassResult, WorkerLoop

logger = logging.getLogger(__name__)

WORKER_NAME = "news"


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the news worker loop."""
    settings = NewsSettings()
    collector = NewsCollector(database, settings)

    def run_pass(_database: Database) -> PassResult:
        return collector.run_pass()

    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=run_pass,
        interval_seconds=interval_seconds if interval_seconds is not None else settings.worker_tick_seconds,
    )
