"""Snapshots of each account's equity: the points of the equity curve.

``take_snapshots`` values every account now (``core.portfolio.valuation``) and upserts one
``portfolio_snapshots`` row per account at the current hour, so running it twice in the same
hour stores nothing twice (the second run refreshes the values of that hour).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.demo.state import has_demo_data
from core.portfolio.models import PortfolioSnapshot
from core.portfolio.valuation import value_portfolio
from core.timeutil import ensure_utc, utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotTaken:
    """One stored snapshot."""

    account: str
    ts: datetime
    equity_eur: Decimal
    cash_eur: Decimal
    positions_value_eur: Decimal


def snapshot_time(now: datetime) -> datetime:
    """Return the snapshot key time for ``now``: the start of its hour (UTC)."""
    return ensure_utc(now).replace(minute=0, second=0, microsecond=0)


def take_snapshots(session: Session, *, now: datetime | None = None) -> list[SnapshotTaken]:
    """Store the equity of every account at the current hour (idempotent per account and hour)."""
    ts = snapshot_time(now or utc_now())
    valuation = value_portfolio(session)
    demo = has_demo_data(session)
    taken = [
        SnapshotTaken(
            account=account.account,
            ts=ts,
            equity_eur=account.equity_eur,
            cash_eur=account.cash_eur,
            positions_value_eur=account.market_value_eur,
        )
        for account in valuation.accounts
    ]
    bulk_upsert(
        session,
        PortfolioSnapshot.__table__,  # type: ignore[arg-type]
        [
            {
                "account": item.account,
                "ts": item.ts,
                "equity_eur": item.equity_eur,
                "cash_eur": item.cash_eur,
                "positions_value_eur": item.positions_value_eur,
                "is_demo": demo,
            }
            for item in taken
        ],
        conflict_columns=["account", "ts"],
        update_columns=["equity_eur", "cash_eur", "positions_value_eur", "is_demo"],
    )
    for item in taken:
        logger.info("Snapshot %s at %s: equity %s EUR", item.account, item.ts.isoformat(), item.equity_eur)
    return taken
