"""Import Bitpanda's CSV export (History → Export) into the ledger.

The file starts with a few preamble lines (disclaimer, address, user id), then the header
``"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,
"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",
"Fee percent",Spread,"Spread Currency","Tax Fiat"``. Older exports lack the last columns
(``Fee percent``, ``Spread``, ``Spread Currency``, ``Tax Fiat``); columns are found by name.
``-`` means empty. Fees may be charged in the coin or in fiat.

The whole file is parsed before anything is written: a malformed file imports nothing, and the
error names the line and the problem. A well-formed row of a type or asset class this importer does
not know is kept as a ``needs_review`` entry (nothing moves; see
:func:`core.accounts.common.needs_review_row`) and named in :attr:`ImportResult.needs_review`.
``transfer(stake)`` / ``transfer(unstake)`` rows (and their plain ``transfer`` twins) are
``internal`` entries: moves inside the account, no balance change (:func:`pair_staking_moves`).
A sale's ``Tax Fiat`` is the KESt Bitpanda took from the proceeds: the sale's
``kest_withheld_eur`` plus a ``tax`` entry ``<Transaction ID>:tax`` for the cash.
Entries are keyed by the transaction id (origin ``bitpanda_csv``), so importing the same file
again stores nothing twice.

Ledger field meanings (the tax report reads these): ``value_eur`` = the fiat amount in EUR
(converted when the fiat is not EUR and a rate is known), ``kest_withheld_eur`` = ``Tax Fiat``,
``asset_class`` = the mapped "Asset class", ``raw`` = the source row.

Swaps (crypto A → crypto B inside Bitpanda; types ``swap``, ``swap in``, ``swap out``) come as two
rows, the outgoing coin and the incoming coin, stamped with the same second. They are paired into
one SWAP entry (``external_id`` = "<outgoing id>+<incoming id>", see
:func:`core.accounts.common.merge_swap_legs`), because a crypto → crypto swap is no realisation
of Neuvermögen. A leg that cannot be paired stays a SELL (outgoing) or BUY (incoming) as before
and is named in :attr:`ImportResult.unpaired_swap_legs`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.accounts.common import (
    DEFAULT_ACCOUNT,
    SWAP_LEG,
    asset_class_of,
    needs_review_row,
    pair_swap_legs,
    store_entries,
    to_eur,
    with_assumption,
)
from core.audit import AuditAction, append_audit
from core.errors import PermanentError
from core.portfolio.models import LedgerKind, LedgerOrigin
from core.security.demo_guard import RealAct, refuse_while_demo
from core.timeutil import ensure_utc

REQUIRED_COLUMNS = (
    "Transaction ID",
    "Timestamp",
    "Transaction Type",
    "In/Out",
    "Amount Fiat",
    "Fiat",
    "Amount Asset",
    "Asset",
    "Asset class",
)
OPTIONAL_COLUMNS = (
    "Asset market price",
    "Asset market price currency",
    "Product ID",
    "Fee",
    "Fee asset",
    "Fee percent",
    "Spread",
    "Spread Currency",
    "Tax Fiat",
)
MAX_PREAMBLE_LINES = 30
EMPTY = {"", "-"}
SWAP_TYPES = ("swap", "swap in", "swap out")
STAKING_MOVE_TYPES = ("transfer(stake)", "transfer(unstake)")  # into / out of staking inside the account
REWARD_TYPES = ("reward", "staking", "staking reward", "bonus")
CASHBACK_TYPES = ("cashback",)
# A row with a Tax Fiat carries (fiat, amount) under this key; ``parse_bitpanda_csv`` adds its TAX entry.
TAX_TAKEN = "_tax_taken"
# A row marked with this key is a staking move; ``pair_staking_moves`` empties it and its plain transfer twin.
STAKING_MOVE = "_staking_move"
CASHBACK_ASSUMPTION = (
    "Bitpanda Card cashback is a price reduction, not income: the units are acquired at cost 0 and their full "
    "proceeds are a gain when sold"
)
BEST_REWARD_ASSUMPTION = (
    "a Bitpanda 'transfer' of BEST with Amount Fiat 0 is a BEST reward (no purchase): acquisition cost 0, no income "
    "when received"
)


class BitpandaCsvError(PermanentError, ValueError):
    """The file cannot be imported; the message names the line and the problem."""


@dataclass(frozen=True)
class ImportResult:
    rows: int  # rows of the file
    new_entries: int
    skipped_existing: int  # entries (a paired swap is one) already stored
    swaps: int = 0  # swaps whose two rows became one SWAP entry (new or already stored)
    unpaired_swap_legs: tuple[str, ...] = ()  # "<Transaction ID> (<reason>)": kept as SELL/BUY
    replaced_legs: tuple[str, ...] = ()  # swap legs an earlier import stored separately, now one SWAP
    notes: tuple[str, ...] = ()
    staking_moves: int = 0  # transfer(stake)/transfer(unstake) rows kept as internal moves
    needs_review: tuple[str, ...] = ()  # one line per row of an unknown type, kept as "needs review"
    assumptions: tuple[str, ...] = ()  # the import assumptions rows of this file were booked under

    def messages(self) -> list[str]:
        """What the user should read besides the counts (needs review, unpaired swap legs, replaced legs, notes)."""
        lines = [f"needs review (kept, not used in balances or tax): {line}" for line in self.needs_review]
        if self.staking_moves:
            lines.append(
                f"{self.staking_moves} staking moves (transfer(stake)/transfer(unstake)) kept as internal "
                "moves: no balance change, no income"
            )
        lines.extend(f"assumption used: {assumption}" for assumption in self.assumptions)
        if self.unpaired_swap_legs:
            lines.append(
                f"{len(self.unpaired_swap_legs)} swap legs could not be paired and were imported as a sell "
                f"(outgoing) or buy (incoming), taxed as such: {'; '.join(self.unpaired_swap_legs)}"
            )
        if self.replaced_legs:
            lines.append(
                f"{len(self.replaced_legs)} swap legs stored separately before were replaced by their swap: "
                + ", ".join(self.replaced_legs)
            )
        return lines + list(self.notes)


def _number(value: str | None, column: str, line: int) -> Decimal | None:
    if value is None or value.strip() in EMPTY:
        return None
    text = value.strip().replace(" ", "")
    try:
        number = Decimal(text)
    except InvalidOperation as error:
        raise BitpandaCsvError(f"line {line}: {column} is not a number: {value!r}") from error
    if not number.is_finite():
        raise BitpandaCsvError(f"line {line}: {column} is not a finite number: {value!r}")
    return number


def _text(value: str | None) -> str | None:
    if value is None or value.strip() in EMPTY:
        return None
    return value.strip()


def _kind(transaction_type: str, direction: str, asset_class: str | None, line: int) -> LedgerKind | None:
    """The ledger kind of a row's type and direction; None for a type this importer does not know."""
    kind = transaction_type.strip().lower()
    incoming = direction.strip().lower() in ("incoming", "in")
    outgoing = direction.strip().lower() in ("outgoing", "out")
    if not incoming and not outgoing:
        raise BitpandaCsvError(f"line {line}: In/Out must be incoming or outgoing, got {direction!r}")
    if kind in STAKING_MOVE_TYPES:
        return LedgerKind.INTERNAL
    if kind == "buy":
        return LedgerKind.BUY
    if kind == "sell":
        return LedgerKind.SELL
    if kind == "deposit":
        return LedgerKind.DEPOSIT
    if kind == "withdrawal":
        return LedgerKind.WITHDRAWAL
    if kind == "transfer":
        return LedgerKind.TRANSFER_IN if incoming else LedgerKind.TRANSFER_OUT
    if kind in REWARD_TYPES + CASHBACK_TYPES and incoming:
        return LedgerKind.REWARD
    if kind == "airdrop" and incoming:
        return LedgerKind.AIRDROP
    if kind in SWAP_TYPES:
        return LedgerKind.BUY if incoming else LedgerKind.SELL
    return None


def _find_header(lines: list[str]) -> int:
    for index, line in enumerate(lines[:MAX_PREAMBLE_LINES]):
        if line.lstrip("\ufeff").lstrip('"').startswith("Transaction ID"):
            return index
    raise BitpandaCsvError(
        f'no header line starting with "Transaction ID" in the first {MAX_PREAMBLE_LINES} lines: '
        "is this a Bitpanda CSV export?"
    )


def parse_bitpanda_csv(session: Session, text: str, *, account: str = DEFAULT_ACCOUNT) -> list[dict[str, Any]]:
    """Parse the whole export into ledger rows; raise ``BitpandaCsvError`` naming the first bad line."""
    lines = text.splitlines()
    header_index = _find_header(lines)
    reader = csv.reader(io.StringIO("\n".join(lines[header_index:])))
    header = [column.strip().lstrip("\ufeff") for column in next(reader)]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise BitpandaCsvError(f"line {header_index + 1}: header lacks column(s) {', '.join(missing)}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for offset, values in enumerate(reader, start=1):
        line = header_index + 1 + offset
        if not values or all(not value.strip() for value in values):
            continue
        if len(values) < len(header) and all(column in OPTIONAL_COLUMNS for column in header[len(values) :]):
            values = values + [""] * (len(header) - len(values))  # trailing optional columns left out: empty
        if len(values) != len(header):
            raise BitpandaCsvError(f"line {line}: {len(values)} fields, the header has {len(header)}")
        record = dict(zip(header, values, strict=True))
        row = _row(session, record, line, account, seen)
        rows.append(row)
        withheld = row.pop(TAX_TAKEN, None)
        if withheld is not None:  # the KESt Bitpanda took from the proceeds: cash that left
            fiat, amount = withheld
            rows.append(
                {
                    "ts": row["ts"],
                    "account": account,
                    "kind": LedgerKind.TAX,
                    "origin": LedgerOrigin.BITPANDA_CSV,
                    "external_id": f"{row['external_id']}:tax",
                    "sent_asset": fiat,
                    "sent_quantity": amount,
                    "value_eur": row["kest_withheld_eur"],
                    "asset_class": "fiat",
                    "description": f"KESt withheld by Bitpanda on {row['external_id']} (Tax Fiat)",
                    "raw": {"Transaction ID": row["external_id"], "Tax Fiat": str(amount), "Fiat": fiat},
                }
            )
    return rows


def _row(session: Session, record: dict[str, str], line: int, account: str, seen: set[str]) -> dict[str, Any]:
    transaction_id = _text(record["Transaction ID"])
    if transaction_id is None:
        raise BitpandaCsvError(f"line {line}: Transaction ID is empty")
    if transaction_id in seen:
        raise BitpandaCsvError(f"line {line}: Transaction ID {transaction_id} appears twice in the file")
    seen.add(transaction_id)
    try:
        stamp = datetime.fromisoformat(record["Timestamp"].strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise BitpandaCsvError(f"line {line}: Timestamp is not a date and time: {record['Timestamp']!r}") from error
    if stamp.tzinfo is None:  # Bitpanda writes the offset; without it the hour (and the tax year) is a guess
        raise BitpandaCsvError(f"line {line}: Timestamp has no UTC offset: {record['Timestamp']!r}")
    ts = ensure_utc(stamp)
    transaction_type = record["Transaction Type"].strip()
    unknown_class: str | None = None
    try:
        asset_class = asset_class_of(_text(record.get("Asset class")))
    except ValueError:
        asset_class, unknown_class = None, _text(record.get("Asset class"))
    kind = _kind(transaction_type, record["In/Out"], asset_class, line)
    if kind is None or unknown_class is not None:
        what = (
            f"unknown transaction type {transaction_type!r}"
            if kind is None
            else f"unknown asset class {unknown_class!r}"
        )
        return needs_review_row(
            ts=ts,
            account=account,
            origin=LedgerOrigin.BITPANDA_CSV,
            external_id=transaction_id,
            raw=dict(record),
            reason=f"Bitpanda CSV line {line}: {what} ({record['In/Out'].strip()} {record.get('Amount Asset', '')} "
            f"{record.get('Asset', '')}, {record.get('Amount Fiat', '')} {record.get('Fiat', '')})",
        )
    fiat = _text(record.get("Fiat"))
    asset = _text(record.get("Asset"))
    amount_fiat = _number(record.get("Amount Fiat"), "Amount Fiat", line)
    amount_asset = _number(record.get("Amount Asset"), "Amount Asset", line)
    fee = _number(record.get("Fee"), "Fee", line)
    fee_asset = _text(record.get("Fee asset"))
    tax_fiat = _number(record.get("Tax Fiat"), "Tax Fiat", line)
    for name, value in (("Amount Fiat", amount_fiat), ("Amount Asset", amount_asset), ("Fee", fee)):
        if value is not None and value < 0:
            raise BitpandaCsvError(f"line {line}: {name} is negative ({value}); In/Out gives the direction")
    if fee is not None and fee > 0 and fee_asset is None:
        raise BitpandaCsvError(f"line {line}: a fee of {fee} without a Fee asset")
    entry: dict[str, Any] = {
        "ts": ts,
        "account": account,
        "kind": kind,
        "origin": LedgerOrigin.BITPANDA_CSV,
        "external_id": transaction_id,
        "asset_class": asset_class,
        "fee_asset": fee_asset if fee else None,
        "fee_quantity": fee if fee else None,
        "raw": dict(record),
        "description": f"Bitpanda {record['Transaction Type'].strip()} {asset or fiat or ''}".strip(),
    }
    if kind in (LedgerKind.BUY, LedgerKind.SELL):
        if amount_asset is None or asset is None or amount_fiat is None or fiat is None:
            raise BitpandaCsvError(f"line {line}: a {kind.value} needs Amount Fiat, Fiat, Amount Asset and Asset")
        if kind is LedgerKind.BUY:
            entry.update(
                sent_asset=fiat, sent_quantity=amount_fiat, received_asset=asset, received_quantity=amount_asset
            )
        else:
            entry.update(
                sent_asset=asset, sent_quantity=amount_asset, received_asset=fiat, received_quantity=amount_fiat
            )
    else:
        is_fiat = asset_class == "fiat" or (asset is not None and asset == fiat) or amount_asset is None
        moved_asset = (fiat if is_fiat and fiat else asset) or fiat
        moved = amount_fiat if is_fiat and amount_fiat is not None else amount_asset
        if moved is None or moved_asset is None:
            raise BitpandaCsvError(f"line {line}: a {kind.value} needs an amount and an asset")
        incoming = kind in (LedgerKind.DEPOSIT, LedgerKind.TRANSFER_IN, LedgerKind.REWARD, LedgerKind.AIRDROP) or (
            kind is LedgerKind.INTERNAL and record["In/Out"].strip().lower() in ("incoming", "in")
        )
        if incoming:
            entry.update(received_asset=moved_asset, received_quantity=moved)
        else:
            entry.update(sent_asset=moved_asset, sent_quantity=moved)
    entry["value_eur"] = to_eur(session, amount_fiat, fiat, ts)
    entry["kest_withheld_eur"] = to_eur(session, tax_fiat, fiat, ts) if tax_fiat else None
    lowered = transaction_type.lower()
    if tax_fiat and fiat and kind is LedgerKind.SELL and lowered not in SWAP_TYPES:
        entry[TAX_TAKEN] = (fiat, tax_fiat)  # withheld from the sale's fiat proceeds
    if lowered in SWAP_TYPES:
        entry[SWAP_LEG] = "in" if kind is LedgerKind.BUY else "out"  # paired by pair_swap_legs
    elif lowered in CASHBACK_TYPES:
        entry["description"] = with_assumption(entry["description"], CASHBACK_ASSUMPTION)
    elif (
        lowered == "transfer" and kind is LedgerKind.TRANSFER_IN and (asset or "").upper() == "BEST" and not amount_fiat
    ):
        entry["kind"] = LedgerKind.REWARD
        entry["description"] = with_assumption(f"Bitpanda BEST reward {moved}", BEST_REWARD_ASSUMPTION)
    elif kind is LedgerKind.INTERNAL:
        entry[STAKING_MOVE] = lowered
    return entry


@dataclass
class StakingPairing:
    """Staking moves after pairing: how many plain transfers were their other half."""

    rows: list[dict[str, Any]]
    moves: int = 0
    twins: int = 0


def pair_staking_moves(rows: list[dict[str, Any]]) -> StakingPairing:
    """Empty the staking moves (``transfer(stake)``/``transfer(unstake)``) and their plain ``transfer`` twins.

    Staking inside Bitpanda moves coins between the account's own wallets: no realisation, no
    income, no balance change. A staking move keeps its row as an INTERNAL entry (sides empty; what
    moved is in ``description`` and ``raw``). A plain ``transfer`` row of the same asset, quantity
    and second in the opposite direction is the move's other half and becomes INTERNAL too, so the
    coins neither leave nor arrive twice. Rewards of staking are their own ``reward`` rows.
    """
    result = StakingPairing(rows=rows)
    twins: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(STAKING_MOVE) is None and row["kind"] in (LedgerKind.TRANSFER_IN, LedgerKind.TRANSFER_OUT):
            twins.setdefault(_staking_key(row, row["kind"] is LedgerKind.TRANSFER_IN), []).append(row)
    for row in rows:
        move = row.pop(STAKING_MOVE, None)
        if move is None:
            continue
        result.moves += 1
        incoming = str(row["raw"].get("In/Out", "")).strip().lower() in ("incoming", "in")
        quantity, asset = (
            row.get("received_quantity") or row.get("sent_quantity"),
            row.get("received_asset") or row.get("sent_asset"),
        )
        matches = twins.get(_staking_key(row, not incoming))
        if matches:
            twin = matches.pop()
            result.twins += 1
            _make_internal(twin, f"Bitpanda transfer {quantity} {asset}: the other half of {move} {row['external_id']}")
        where = "into staking" if move == "transfer(stake)" else "out of staking"
        _make_internal(row, f"Bitpanda {move} {quantity} {asset}: moved {where} inside the account, no balance change")
    return result


def _staking_key(row: dict[str, Any], incoming: bool) -> tuple[Any, ...]:
    quantity = row.get("received_quantity") if row.get("received_asset") else row.get("sent_quantity")
    asset = row.get("received_asset") or row.get("sent_asset")
    return (row["account"], row["ts"].replace(microsecond=0), asset, Decimal(quantity or 0).normalize(), incoming)


def _make_internal(row: dict[str, Any], description: str) -> None:
    empty = (
        "sent_asset",
        "sent_quantity",
        "received_asset",
        "received_quantity",
        "fee_asset",
        "fee_quantity",
        "value_eur",
    )
    row.update(dict.fromkeys(empty), kind=LedgerKind.INTERNAL, description=description)


def import_bitpanda_csv(
    session: Session, path: Path | str, *, account: str = DEFAULT_ACCOUNT, actor: str = "cli"
) -> ImportResult:
    """Import an export file in the caller's transaction; re-importing stores nothing twice."""
    refuse_while_demo(session, RealAct.IMPORT_ACCOUNT_HISTORY)
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BitpandaCsvError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = parse_bitpanda_csv(session, text, account=account)
    staking = pair_staking_moves(rows)
    pairing = pair_swap_legs(rows)
    stored = store_entries(session, pairing.rows)
    new = stored.new
    if new or stored.replaced_legs:
        details: dict[str, Any] = {"source": "bitpanda_csv", "file": path.name, "rows": len(rows), "new": new}
        if pairing.swaps:
            details["swaps"] = pairing.swaps
        if pairing.unpaired:
            details["unpaired_swap_legs"] = pairing.unpaired
        if stored.replaced_legs:
            details["replaced_legs"] = list(stored.replaced_legs)
        append_audit(session, actor=actor, action=AuditAction.IMPORT, subject=f"account:{account}", details=details)
    return ImportResult(
        rows=sum(1 for row in rows if row["kind"] is not LedgerKind.TAX),  # a TAX entry comes from a sale's Tax Fiat
        new_entries=new,
        skipped_existing=len(pairing.rows) - new,
        swaps=pairing.swaps,
        unpaired_swap_legs=tuple(pairing.unpaired),
        replaced_legs=stored.replaced_legs,
        notes=tuple(pairing.notes),
        staking_moves=staking.moves,
        needs_review=tuple(row["description"] for row in pairing.rows if row["kind"] is LedgerKind.NEEDS_REVIEW),
        assumptions=tuple(
            sorted(
                {
                    row["description"].rsplit("(assumption: ", 1)[1].rstrip(")")
                    for row in pairing.rows
                    if "(assumption: " in (row.get("description") or "")
                }
            )
        ),
    )
