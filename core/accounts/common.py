"""Shared pieces of the Bitpanda importers: asset classes, transaction kinds, EUR values, storing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.market.query import eur_price_of_asset
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.timeutil import utc_now

DEFAULT_ACCOUNT = "bitpanda"

# Bitpanda's "Asset class" texts → the ledger's asset_class values.
ASSET_CLASSES = {
    "fiat": "fiat",
    "cryptocurrency": "crypto",
    "crypto": "crypto",
    "stock": "stock",
    "stock (derivative)": "stock",
    "etf": "etf",
    "etf (derivative)": "etf",
    "etc": "etf",
    "metal": "metal",
    "commodity": "commodity",
    "commodity (derivative)": "commodity",
    "index": "index",
    "leveraged token": "crypto",
}


def asset_class_of(text: str | None) -> str | None:
    """Map Bitpanda's asset class text (``Cryptocurrency``, ``Stock (derivative)``...) to ours."""
    if not text:
        return None
    key = text.strip().lower()
    if key in ASSET_CLASSES:
        return ASSET_CLASSES[key]
    raise ValueError(f"unknown asset class {text!r}")


def to_eur(session: Session, amount: Decimal | None, currency: str | None, when: datetime) -> Decimal | None:
    """Convert ``amount`` of ``currency`` to EUR at ``when``; None if no rate is known."""
    if amount is None or currency is None:
        return None
    if currency.upper() == "EUR":
        return amount
    rate = eur_price_of_asset(session, currency, when)
    return None if rate is None else (amount * rate).quantize(Decimal("0.0000000001"))


def store_entries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert ledger rows; rows whose (origin, external_id) exist are skipped. Return how many were new."""
    if not rows:
        return 0
    origin = rows[0]["origin"]
    ids = [row["external_id"] for row in rows]
    existing: set[str] = set()
    for start in range(0, len(ids), 500):
        existing.update(
            session.scalars(
                select(LedgerEntry.external_id).where(
                    LedgerEntry.origin == origin, LedgerEntry.external_id.in_(ids[start : start + 500])
                )
            )
        )
    now = utc_now()
    for row in rows:
        row.setdefault("created_at", now)
        for key in ("sent_asset", "sent_quantity", "received_asset", "received_quantity", "fee_asset",
                    "fee_quantity", "value_eur", "kest_withheld_eur", "instrument_id", "asset_class", "order_ref",
                    "description", "raw"):  # fmt: skip
            row.setdefault(key, None)
    bulk_upsert(session, LedgerEntry.__table__, rows, conflict_columns=["origin", "external_id"])  # type: ignore[arg-type]
    return len({row["external_id"] for row in rows} - existing)


__all__ = ["DEFAULT_ACCOUNT", "LedgerKind", "LedgerOrigin", "asset_class_of", "store_entries", "to_eur"]
