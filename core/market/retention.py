"""Retention of streamed quotes: a workstation left running for months keeps only recent raw quotes.

A stream stores about one quote per instrument and second (86 400 rows a day each); what the
trading engine needs of them is recent (paper fills and exits look at the prices after their
cursor, which the executor advances every second), and the price history lives in the candles.
:func:`prune_quotes` deletes quotes older than ``keep_hours`` in small batches, each batch its own
short transaction (no long write lock for the other writers), oldest first, and never an
instrument's newest quote (``latest_price`` keeps an answer even for a source that stopped).

Forming candles need no retention of their own: a streamed forming candle is the candle row of
its timeframe, replaced in place by the complete one (``store_candles`` upserts on the candle's
open time), so streaming adds no rows beyond the candle history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.market.models import Quote
from core.timeutil import utc_now


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    batches: int
    complete: bool  # False: the batch limit was reached, more is left for the next pass


def _delete_batch(session: Session, instrument_id: int, cutoff: datetime, batch_rows: int) -> int:
    """Delete up to about ``batch_rows`` of an instrument's oldest quotes before ``cutoff``."""
    boundary = session.scalar(
        select(Quote.ts)
        .where(Quote.instrument_id == instrument_id, Quote.ts < cutoff)
        .order_by(Quote.ts)
        .offset(batch_rows - 1)
        .limit(1)
    )
    condition = Quote.ts <= boundary if boundary is not None else Quote.ts < cutoff
    result = session.execute(delete(Quote).where(Quote.instrument_id == instrument_id, condition))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_quotes(
    database: Database,
    *,
    keep_hours: float,
    batch_rows: int = 5000,
    max_batches: int = 20,
    now: datetime | None = None,
) -> PruneResult:
    """Delete quotes older than ``keep_hours`` (0 = keep all), at most ``max_batches`` batches of ``batch_rows``."""
    if keep_hours <= 0:
        return PruneResult(0, 0, True)
    if batch_rows <= 0 or max_batches <= 0:
        raise ValueError("batch_rows and max_batches must be positive")
    cutoff = (now or utc_now()) - timedelta(hours=keep_hours)
    newest: dict[int, datetime] = dict(
        database.run(
            lambda session: session.execute(
                select(Quote.instrument_id, func.max(Quote.ts))
                .where(Quote.instrument_id.in_(select(Quote.instrument_id).where(Quote.ts < cutoff).distinct()))
                .group_by(Quote.instrument_id)
            ).all()
        )
    )
    deleted = batches = 0
    for instrument_id, latest in sorted(newest.items()):
        limit = min(cutoff, latest)  # strictly before: the instrument's newest quote stays
        while True:
            if batches >= max_batches:
                return PruneResult(deleted, batches, False)
            count = database.run(
                lambda session, i=instrument_id, c=limit: _delete_batch(session, i, c, batch_rows)  # type: ignore[misc]
            )
            batches += 1
            deleted += count
            if count < batch_rows:
                break
    return PruneResult(deleted, batches, True)
