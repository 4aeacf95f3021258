"""``konsens worker sync``: keeps the ledger of configured accounts current (Bitpanda retail API).

Without a stored Bitpanda API key a pass does nothing and says so in its heartbeat.
"""

from __future__ import annotations

from typing import Any

from core.accounts.bitpanda_api import (
    BitpandaClient,
    sync_bitpanda,
)
from core.db.engine import Database
from core.execution.settings import SECRET_BITPANDA_KEY, TradingSettings
from core.retry import RateLimiter
from core.security.secrets import SecretStore
from core.system.settings_store import set_setting
from core.timeutil import utc_now
from workers.runtime import WorkerLoop

WORKER_NAME = "sync"


def run_sync_pass(database: Database, settings: TradingSettings | None = None) -> dict[str, Any]:
    """Sync every configured account once."""
    settings = settings or TradingSettings()
    api_key = database.run(lambda session: SecretStore().get(session, SECRET_BITPANDA_KEY))
    if not api_key:
        return {"bitpanda": "no API key configured"}
    client = BitpandaClient(
        api_key,
        base_url=settings.bitpanda_base_url,
        rate_limiter=RateLimiter.per_minute(settings.bitpanda_requests_per_minute),
    )
    try:
        with database.session() as session:
            result = sync_bitpanda(session, client)
            set_setting(
                session,
                "accounts.bitpanda.balances",
                {"at": utc_now().isoformat(), "balances": {k: str(v) for k, v in result.balances.items()}},
            )
    finally:  # a BitpandaTransientError is of the transient branch: the loop retries it
        client.close()
    info: dict[str, Any] = {"bitpanda_fetched": result.fetched, "bitpanda_new": result.new_entries}
    if result.unpaired_swap_legs:  # shown in the heartbeat: these legs are taxed as a sale and a buy
        info["bitpanda_unpaired_swap_legs"] = list(result.unpaired_swap_legs)
    if result.replaced_legs:
        info["bitpanda_replaced_swap_legs"] = list(result.replaced_legs)
    if result.needs_review:  # kept, not used in balances or tax until reviewed; the Tax page warns too
        info["bitpanda_needs_review"] = list(result.needs_review)
    return info


def build_worker(database: Database, *, interval_seconds: float | None = None) -> WorkerLoop:
    """Return the sync loop (default every ``sync_interval_seconds``)."""
    settings = TradingSettings()
    return WorkerLoop(
        WORKER_NAME,
        database,
        lambda db: run_sync_pass(db, settings),
        interval_seconds=settings.sync_interval_seconds if interval_seconds is None else interval_seconds,
    )
