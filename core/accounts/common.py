"""Shared pieces of the Bitpanda importers: asset classes, transaction kinds, EUR values, storing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.market.query import eur_price_of_asset
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.timeutil import ensure_utc, utc_now

DEFAULT_ACCOUNT = "bitpanda"

# A parser marks each leg of a Bitpanda swap (crypto A → crypto B inside Bitpanda) with this key:
# "out" for the coin given (shaped as a SELL), "in" for the coin received (shaped as a BUY).
# ``pair_swap_legs`` turns each pair into one SWAP row and removes the key.
SWAP_LEG = "_swap_leg"
# A SWAP row made from two legs carries them under this key (removed before storing), so that
# ``store_entries`` can replace legs an earlier import stored separately.
SWAP_LEGS = "_swap_legs"

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
    entry lacks are filled in (the CSV's ``Fee`` column has no ledger counterpart in the API, whose
    trade fee is included in ``amount_fiat``; an API trade whose ``tax`` object was not in the
    answer gets the CSV's ``Tax Fiat``).
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
        if LedgerKind(row["kind"]) in NO_MOVEMENT_KINDS:  # no sides to compare: never taken for another entry
            kept.append(row)
            continue
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


# Entries that move nothing (their sides are empty): what they were is in ``description`` and ``raw``.
NO_MOVEMENT_KINDS = frozenset({LedgerKind.NEEDS_REVIEW, LedgerKind.INTERNAL})


def needs_review_row(
    *,
    ts: datetime,
    account: str,
    origin: LedgerOrigin,
    external_id: str,
    reason: str,
    raw: dict[str, Any],
    asset_class: str | None = None,
) -> dict[str, Any]:
    """A ledger row for a well-formed source row of an unknown type: kept, shown, never used.

    Its sides, fee and values are empty, so balances, portfolio and tax do not use it; the tax
    report lists it as a ``needs_review`` warning with ``reason`` (kept in ``description``). A later
    import that knows the type replaces it (same origin and external id, see ``store_entries``).
    """
    return {
        "ts": ts,
        "account": account,
        "kind": LedgerKind.NEEDS_REVIEW,
        "origin": origin,
        "external_id": external_id,
        "asset_class": asset_class,
        "description": reason,
        "raw": raw,
    }


def with_assumption(description: str, assumption: str) -> str:
    """Append the import assumption the tax report names in its warnings (see ``core.tax.report``)."""
    return f"{description} (assumption: {assumption})"


def _get(row: dict[str, Any] | LedgerEntry, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name)


@dataclass
class SwapPairing:
    """The rows after pairing swap legs, and what could not be paired (named, never dropped)."""

    rows: list[dict[str, Any]]
    swaps: int = 0
    unpaired: list[str] = field(default_factory=list)  # "<external id> (<reason>)", one per leg
    notes: list[str] = field(default_factory=list)  # what a SWAP entry could not hold (a second fee)


def _coin_of_leg(direction: str, leg: dict[str, Any]) -> str | None:
    return leg.get("sent_asset") if direction == "out" else leg.get("received_asset")


def _why_not_paired(legs: list[tuple[str, dict[str, Any]]]) -> str | None:
    outs = [leg for direction, leg in legs if direction == "out"]
    ins = [leg for direction, leg in legs if direction == "in"]
    if len(outs) != 1 or len(ins) != 1:
        return f"{len(outs)} outgoing and {len(ins)} incoming swap legs at this second, expected one of each"
    for direction, leg in legs:
        coin = _coin_of_leg(direction, leg)
        if leg.get("asset_class") != "crypto" or not coin:  # a crypto leg's coin side is never fiat
            return f"{'outgoing' if direction == 'out' else 'incoming'} leg {coin} is not crypto"
    if (_coin_of_leg("out", outs[0]) or "").upper() == (_coin_of_leg("in", ins[0]) or "").upper():
        return "the same coin on both sides"
    return None


def pair_swap_legs(rows: list[dict[str, Any]]) -> SwapPairing:
    """Pair the swap legs among ``rows`` into SWAP rows; other rows pass unchanged.

    Legs pair when they are of one account and one second (Bitpanda stamps both legs of a swap
    with the same time; the CSV gives seconds, the API may give fractions): exactly one outgoing
    and one incoming crypto leg of different coins → one SWAP row. Any other group (a leg alone,
    more than two legs, a fiat or non-crypto leg) keeps its legs as SELL/BUY rows, as imported
    before, and each such leg is named in ``unpaired``.
    """
    result = SwapPairing(rows=[])
    groups: dict[tuple[Any, ...], list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        direction = row.pop(SWAP_LEG, None)
        if direction is None:
            result.rows.append(row)
            continue
        key = (row["account"], ensure_utc(row["ts"]).replace(microsecond=0))
        groups.setdefault(key, []).append((direction, row))
    for legs in groups.values():
        reason = _why_not_paired(legs)
        if reason is not None:
            result.rows.extend(leg for _, leg in legs)
            result.unpaired.extend(f"{leg['external_id']} ({reason})" for _, leg in legs)
            continue
        out = next(leg for direction, leg in legs if direction == "out")
        incoming = next(leg for direction, leg in legs if direction == "in")
        swap = merge_swap_legs(out, incoming)
        if "fee_not_in_ledger" in swap["raw"]:
            dropped = swap["raw"]["fee_not_in_ledger"]
            result.notes.append(
                f"swap {swap['external_id']}: the ledger holds one fee; the incoming leg's fee of "
                f"{dropped['quantity']} {dropped['asset']} is kept in the entry's raw data only"
            )
        result.rows.append(swap)
        result.swaps += 1
    return result


def merge_swap_legs(out: dict[str, Any] | LedgerEntry, incoming: dict[str, Any] | LedgerEntry) -> dict[str, Any]:
    """One SWAP row from the outgoing (SELL-shaped) and incoming (BUY-shaped) leg of a swap.

    - sent = the coin given and its quantity (outgoing leg), received = the coin received and its
      quantity (incoming leg), both as the legs give them (fee meanings as for a SELL and a BUY).
    - ``value_eur`` = the EUR value of the outgoing leg (its fiat amount): Bitpanda's value of the
      coin given up, which is what the old law realises and what the leg was booked at as a SELL
      before; the incoming leg's only when the outgoing leg has none (both are the market value of
      one trade and differ by the spread at most).
    - fee: the legs' fees; two fees in one asset are added; in two assets the ledger can hold one:
      the outgoing leg's is kept, the incoming leg's stays in ``raw["fee_not_in_ledger"]`` (a swap
      fee is neither a realisation nor a cost under the Austrian rules; only its units matter).
    - ``kest_withheld_eur`` = the sum of the legs' KESt (None when neither has any).
    - ``external_id`` = "<outgoing id>+<incoming id>": the same pair gives the same id on every import.
    """
    out_fee = (_get(out, "fee_asset"), _get(out, "fee_quantity"))
    in_fee = (_get(incoming, "fee_asset"), _get(incoming, "fee_quantity"))
    raw: dict[str, Any] = {"swap_legs": [_get(out, "raw"), _get(incoming, "raw")]}
    fee_asset, fee_quantity = out_fee if out_fee[1] else in_fee if in_fee[1] else (None, None)
    if out_fee[1] and in_fee[1]:
        if (out_fee[0] or "").upper() == (in_fee[0] or "").upper():
            fee_quantity = Decimal(out_fee[1]) + Decimal(in_fee[1])
        else:
            raw["fee_not_in_ledger"] = {"asset": in_fee[0], "quantity": str(in_fee[1])}
    kests = [value for value in (_get(out, "kest_withheld_eur"), _get(incoming, "kest_withheld_eur")) if value]
    value = _get(out, "value_eur")
    sent, received = _get(out, "sent_asset"), _get(incoming, "received_asset")
    return {
        "ts": _get(out, "ts"),
        "account": _get(out, "account"),
        "kind": LedgerKind.SWAP,
        "origin": LedgerOrigin(_get(out, "origin")),
        "external_id": f"{_get(out, 'external_id')}+{_get(incoming, 'external_id')}",
        "sent_asset": sent,
        "sent_quantity": _get(out, "sent_quantity"),
        "received_asset": received,
        "received_quantity": _get(incoming, "received_quantity"),
        "fee_asset": fee_asset if fee_quantity else None,
        "fee_quantity": fee_quantity if fee_quantity else None,
        "value_eur": value if value is not None else _get(incoming, "value_eur"),
        "kest_withheld_eur": sum((Decimal(kest) for kest in kests), Decimal(0)) if kests else None,
        "asset_class": "crypto",
        "description": f"Bitpanda swap {sent} → {received}",
        "raw": raw,
        SWAP_LEGS: (out, incoming),
    }


def _leg_entries(session: Session, origin: LedgerOrigin, ids: Iterable[str]) -> list[LedgerEntry]:
    return list(
        session.scalars(select(LedgerEntry).where(LedgerEntry.origin == origin, LedgerEntry.external_id.in_(list(ids))))
    )


def _replace_stored_legs(session: Session, origin: LedgerOrigin, swaps: list[dict[str, Any]]) -> list[str]:
    """Remove legs an earlier import stored separately for the new SWAP rows; return their ids.

    Legs of the same origin (their own external ids) are deleted: the SWAP row replaces them.
    Legs of the other Bitpanda source (stored as a SELL and a BUY with the legs' account, time,
    coins and quantities) become one SWAP entry of that source, keeping its ids, fee and KESt; the
    new row then matches it and is not stored again (``_drop_seen_by_the_other_source``).
    """
    replaced: list[str] = []
    leg_ids = [_get(leg, "external_id") for swap in swaps for leg in swap[SWAP_LEGS]]
    for start in range(0, len(leg_ids), 500):
        stale = _leg_entries(session, origin, leg_ids[start : start + 500])
        replaced.extend(entry.external_id for entry in stale)
        if stale:
            session.execute(delete(LedgerEntry).where(LedgerEntry.id.in_([entry.id for entry in stale])))
    other = _OTHER_BITPANDA_ORIGIN.get(origin)
    if other is None:
        return replaced
    stamps = [ensure_utc(swap["ts"]) for swap in swaps]
    candidates = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.origin == other,
            LedgerEntry.kind.in_([LedgerKind.BUY, LedgerKind.SELL]),
            LedgerEntry.account.in_({swap["account"] for swap in swaps}),
            LedgerEntry.ts >= min(stamps) - timedelta(seconds=1),
            LedgerEntry.ts <= max(stamps) + timedelta(seconds=1),
        )
    )
    by_key: dict[tuple[Any, ...], list[LedgerEntry]] = {}
    for candidate in candidates:
        by_key.setdefault(_movement_key(candidate), []).append(candidate)
    for swap in swaps:
        out, incoming = swap[SWAP_LEGS]
        outs, ins = by_key.get(_movement_key(out)), by_key.get(_movement_key(incoming))
        if not outs or not ins:
            continue
        old_out, old_in = outs.pop(), ins.pop()
        converted = merge_swap_legs(old_out, old_in)
        del converted[SWAP_LEGS]
        replaced.extend(f"{entry.origin.value}:{entry.external_id}" for entry in (old_out, old_in))
        session.execute(delete(LedgerEntry).where(LedgerEntry.id.in_([old_out.id, old_in.id])))
        session.add(LedgerEntry(**converted, created_at=utc_now()))
    session.flush()
    return replaced


@dataclass(frozen=True)
class Stored:
    """What ``store_entries`` wrote: new entries, and the ids of separately stored swap legs replaced."""

    new: int
    replaced_legs: tuple[str, ...] = ()


def store_entries(session: Session, rows: list[dict[str, Any]]) -> Stored:
    """Insert ledger rows; rows whose (origin, external_id) exist are skipped.

    Bitpanda rows already stored from the other Bitpanda source (API vs CSV export: the same
    account, kind, time and quantities) are skipped too, so one trade is never counted twice.
    A new SWAP row made by ``pair_swap_legs`` replaces its two legs where an earlier import stored
    them separately (see ``_replace_stored_legs``), in the caller's transaction.
    """
    if not rows:
        return Stored(0)
    origin = rows[0]["origin"]
    if any(row["origin"] != origin for row in rows):
        raise ValueError("store_entries takes rows of one origin")
    ids = [row["external_id"] for row in rows]
    existing: set[str] = set()
    under_review: dict[str, int] = {}  # external id -> entry id of a stored needs-review entry
    for start in range(0, len(ids), 500):
        for entry_id, external_id, kind in session.execute(
            select(LedgerEntry.id, LedgerEntry.external_id, LedgerEntry.kind).where(
                LedgerEntry.origin == origin, LedgerEntry.external_id.in_(ids[start : start + 500])
            )
        ):
            if kind is LedgerKind.NEEDS_REVIEW:
                under_review[external_id] = entry_id
            else:
                existing.add(external_id)
    resolved = [
        under_review[row["external_id"]]
        for row in rows
        if row["external_id"] in under_review and LedgerKind(row["kind"]) is not LedgerKind.NEEDS_REVIEW
    ]
    if resolved:  # an import that now knows the row's type replaces its needs-review entry
        session.execute(delete(LedgerEntry).where(LedgerEntry.id.in_(resolved)))
    existing.update(key for key, entry_id in under_review.items() if entry_id not in resolved)
    rows = [row for row in rows if row["external_id"] not in existing]
    swaps = [row for row in rows if SWAP_LEGS in row]
    replaced = _replace_stored_legs(session, LedgerOrigin(origin), swaps) if swaps else []
    rows = [{key: value for key, value in row.items() if key not in (SWAP_LEG, SWAP_LEGS)} for row in rows]
    rows = _drop_seen_by_the_other_source(session, origin, rows)
    if not rows:
        return Stored(0, tuple(replaced))
    now = utc_now()
    for row in rows:
        row.setdefault("created_at", now)
        for key in (
            "sent_asset",
            "sent_quantity",
            "received_asset",
            "received_quantity",
            "fee_asset",
            "fee_quantity",
            "value_eur",
            "kest_withheld_eur",
            "instrument_id",
            "asset_class",
            "order_ref",
            "description",
            "raw",
        ):
            row.setdefault(key, None)
    bulk_upsert(session, LedgerEntry.__table__, rows, conflict_columns=["origin", "external_id"])  # type: ignore[arg-type]
    return Stored(len({row["external_id"] for row in rows}), tuple(replaced))


__all__ = [
    "DEFAULT_ACCOUNT",
    "NO_MOVEMENT_KINDS",
    "SWAP_LEG",
    "LedgerKind",
    "LedgerOrigin",
    "Stored",
    "SwapPairing",
    "asset_class_of",
    "merge_swap_legs",
    "needs_review_row",
    "pair_swap_legs",
    "store_entries",
    "to_eur",
    "with_assumption",
]
