"""The risk worker: checks circuit breakers and alert rules, then delivers pending alerts.

``konsens worker risk [--once]``. A pass evaluates every account's daily loss and drawdown
(moving its trading state on a breach, even when no order comes in), raises alerts for large
moves, stale market data and failing workers, and delivers pending alerts to the configured
webhook and Telegram chat.
"""

from __future__ import annotations

import logging

from core.db.engine import Database
from core.risk.monitor import RISK_WORKER_NAME, run_risk_pass
from core.risk.notify import deliver_pending_alerts
from workers.runtime import PassResult, WorkerLoop

logger = logging.getLogger(__name__)

WORKER_NAME = RISK_WORKER_NAME
DEFAULT_INTERVAL_SECONDS = 60.0


def run_pass(database: Database) -> PassResult:
    """Run one monitoring pass (its own transaction), then one delivery pass."""
    report = database.run(lambda session: run_risk_pass(session))
    delivery = database.run(lambda session: deliver_pending_alerts(session))
    return {
        "accounts_checked": report.accounts_checked,
        "new_alerts": len(report.alerts),
        "alerts_sent": delivery.sent,
        "alerts_failed": delivery.failed,
    }


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the risk worker's loop."""
    return WorkerLoop(
        name=WORKER_NAME,
        database=database,
        run_pass=run_pass,
        interval_seconds=interval_seconds or DEFAULT_INTERVAL_SECONDS,
    )
