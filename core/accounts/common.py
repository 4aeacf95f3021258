"""Shared pieces of the Bitpanda importers: asset classes, transaction kinds, EUR values, storing."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.market.query import eur_price_of_asset
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.timeutil import ensure_utc, utc_now

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


# The same Bitpanda history reaches the ledger through the API and through the CSV export, under
# different ids. A row of one of these origins that matches an entry of the other is not stored again.
_OTHER_BITPANDA_ORIGIN = {
    LedgerOrigin.BITPANDA_API: LedgerOrigin.BITPANDA_CSV,
    LedgerOrigin.BITPANDA_CSV: LedgerOrigin.BITPANDA_API,
}


def _movement_key(row: dict[str, Any] | LedgerEntry) -> tuple[Any, ...]:
    """What identifies one movement whatever its source: account, kind, time, both sides."""

    def get(name: str) -> Any:
        return row.get(name) if isinstance(row, dict) else getattr(row, name)

    def quantity(name: str) -> Decimal | None:
        value = get(name)
        return None if value is None else Decimal(value).normalize()

    return (
        get("account"),
        LedgerKind(get("kind")),
        ensure_utc(get("ts")).replace(microsecond=0),
        get("sent_asset"),
        quantity("sent_quantity"),
        get("received_asset"),
        quantity("received_quantity"),
    )


def _drop_seen_by_the_other_source(
    session: Session, origin: LedgerOrigin, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Return ``rows`` without those already stored from the other Bitpanda source.

    A matched entry keeps its origin and external id; fee and KESt the new row knows and the
    entry lacks (the API reports neither for a trade) are filled in.
    """
    other = _OTHER_BITPANDA_ORIGIN.get(LedgerOrigin(origin))
    if other is None or not rows:
        return rows
    stamps = [ensure_utc(row["ts"]) for row in rows]
    candidates = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.origin == other,
            LedgerEntry.account.in_({row["account"] for row in rows}),
            LedgerEntry.ts >= min(stamps) - timedelta(seconds=1),
            LedgerEntry.ts <= max(stamps) + timedelta(seconds=1),
        )
    )
    by_key: dict[tuple[Any, ...], list[LedgerEntry]] = {}
    for candidate in candidates:
        by_key.setdefault(_movement_key(candidate), []).append(candidate)
    kept: list[dict[str, Any]] = []
    for row in rows:
        matches = by_key.get(_movement_key(row))
        if not matches:  # each stored entry matches one row at most: two equal trades stay two
            kept.append(row)
            continue
        entry = matches.pop()
        if entry.fee_quantity is None and row.get("fee_quantity") is not None:
            entry.fee_asset, entry.fee_quantity = row["fee_asset"], row["fee_quantity"]
        if entry.kest_withheld_eur is None and row.get("kest_withheld_eur") is not None:
            entry.kest_withheld_eur = row["kest_withheld_eur"]
    session.flush()
    return kept


def store_entries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert ledger rows; rows whose (origin, external_id) exist are skipped. Return how many were new.

    Bitpanda rows already stored from the other Bitpanda source (API vs CSV export: the same
    account, kind, time and quantities) are skipped too, so one trade is never counted twice.
    """
    if not rows:
        return 0
    origin = rows[0]["origin"]
    if any(row["origin"] != origin for row in rows):
        raise ValueError("store_entries takes rows of one origin")
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
    rows = _drop_seen_by_the_other_source(session, origin, [row for row in rows if row["external_id"] not in existing])
    if not rows:
        return 0
    now = utc_now()
    for row in rows:
        row.setdefault("created_at", now)
        for key in ("sent_asset", "sent_quantity", "received_asset", "received_quantity", "fee_asset",
                    "fee_quantity", "value_eur", "kest_withheld_eur", "instrument_id", "asset_class", "order_ref",
                    "description", "raw"):  # fmt: skip
            row.setdefault(key, None)
    bulk_upsert(session, LedgerEntry.__table__, rows, conflict_columns=["origin", "external_id"])  # type: ignore[arg-type]
    return len({row["external_id"] for row in rows})


__all__ = ["DEFAULT_ACCOUNT", "LedgerKind", "LedgerOrigin", "asset_class_of", "store_entries", "to_eur"]
