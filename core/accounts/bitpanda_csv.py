"""Import Bitpanda's CSV export (History → Export) into the ledger.

The file starts with a few preamble lines (disclaimer, address, user id), then the header
``"Transaction ID",Timestamp,"Transaction Type",In/Out,"Amount Fiat",Fiat,"Amount Asset",Asset,
"Asset market price","Asset market price currency","Asset class","Product ID",Fee,"Fee asset",
"Fee percent",Spread,"Spread Currency","Tax Fiat"``. Older exports lack the last columns
(``Fee percent``, ``Spread``, ``Spread Currency``, ``Tax Fiat``); columns are found by name.
``-`` means empty. Fees may be charged in the coin or in fiat.

The whole file is parsed before anything is written: a bad file imports nothing, and the error
names the line and the problem. Entries are keyed by the transaction id (origin
``bitpanda_csv``), so importing the same file again stores nothing twice.

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

from core.accounts.common import DEFAULT_ACCOUNT, SWAP_LEG, asset_class_of, pair_swap_legs, store_entries, to_eur
from core.audit import AuditAction, append_audit
from core.portfolio.models import LedgerKind, LedgerOrigin
from core.security.demo_guard import RealAct, refuse_while_demo
from core.timeutil import ensure_utc

REQUIRED_COLUMNS = (
    "Transaction ID", "Timestamp", "Transaction Type", "In/Out", "Amount Fiat", "Fiat", "Amount Asset", "Asset",
    "Asset class",
)  # fmt: skip
OPTIONAL_COLUMNS = (
    "Asset market price", "Asset market price currency", "Product ID", "Fee", "Fee asset", "Fee percent", "Spread",
    "Spread Currency", "Tax Fiat",
)  # fmt: skip
MAX_PREAMBLE_LINES = 30
EMPTY = {"", "-"}
SWAP_TYPES = ("swap", "swap in", "swap out")


class BitpandaCsvError(ValueError):
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

    def messages(self) -> list[str]:
        """What the user should read besides the counts (unpaired swap legs, replaced legs, notes)."""
        lines = []
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


def _kind(transaction_type: str, direction: str, asset_class: str | None, line: int) -> LedgerKind:
    kind = transaction_type.strip().lower()
    incoming = direction.strip().lower() in ("incoming", "in")
    outgoing = direction.strip().lower() in ("outgoing", "out")
    if not incoming and not outgoing:
        raise BitpandaCsvError(f"line {line}: In/Out must be incoming or outgoing, got {direction!r}")
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
    if kind in ("reward", "staking", "staking reward", "bonus", "cashback"):
        return LedgerKind.REWARD
    if kind == "airdrop":
        return LedgerKind.AIRDROP
    if kind in ("swap", "swap in", "swap out"):
        return LedgerKind.BUY if incoming else LedgerKind.SELL
    raise BitpandaCsvError(f"line {line}: unknown transaction type {transaction_type!r}")


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
        if len(values) != len(header):
            raise BitpandaCsvError(f"line {line}: {len(values)} fields, the header has {len(header)}")
        record = dict(zip(header, values, strict=True))
        rows.append(_row(session, record, line, account, seen))
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
    try:
        asset_class = asset_class_of(_text(record.get("Asset class")))
    except ValueError as error:
        raise BitpandaCsvError(f"line {line}: {error}") from error
    kind = _kind(record["Transaction Type"], record["In/Out"], asset_class, line)
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
        incoming = kind in (LedgerKind.DEPOSIT, LedgerKind.TRANSFER_IN, LedgerKind.REWARD, LedgerKind.AIRDROP)
        if incoming:
            entry.update(received_asset=moved_asset, received_quantity=moved)
        else:
            entry.update(sent_asset=moved_asset, sent_quantity=moved)
    entry["value_eur"] = to_eur(session, amount_fiat, fiat, ts)
    entry["kest_withheld_eur"] = to_eur(session, tax_fiat, fiat, ts) if tax_fiat else None
    if record["Transaction Type"].strip().lower() in SWAP_TYPES:
        entry[SWAP_LEG] = "in" if kind is LedgerKind.BUY else "out"  # paired by pair_swap_legs
    return entry


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
        rows=len(rows),
        new_entries=new,
        skipped_existing=len(pairing.rows) - new,
        swaps=pairing.swaps,
        unpaired_swap_legs=tuple(pairing.unpaired),
        replaced_legs=stored.replaced_legs,
        notes=tuple(pairing.notes),
    )
