"""Import Koinly's "universal" CSV template into the ledger (one file per wallet, like Koinly).

Columns: ``Koinly Date`` (UTC, ``YYYY-MM-DD HH:MM``, optional seconds, optional `` UTC``),
``Sent Amount``, ``Sent Currency``, ``Received Amount``, ``Received Currency``, ``Fee Amount``,
``Fee Currency``, ``Net Worth Amount``, ``Net Worth Currency``, ``Label`` (or ``Tag``), ``Description``, ``TxHash``.

The whole file is checked before anything is written; a bad file imports nothing and the error
names the line and the problem. Rows are written in one transaction with a stable external id
(a hash of the wallet and the row, plus its occurrence number in the file), so importing the same
file again stores nothing twice. Nothing here seeds demo data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db.upsert import bulk_upsert
from core.errors import PermanentError
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.security.demo_guard import RealAct, refuse_while_demo
from core.tax.engine import is_fiat
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

DATE_COLUMN = "Koinly Date"
COLUMNS = (
    DATE_COLUMN,
    "Sent Amount",
    "Sent Currency",
    "Received Amount",
    "Received Currency",
    "Fee Amount",
    "Fee Currency",
    "Net Worth Amount",
    "Net Worth Currency",
    "Label",
    "Description",
    "TxHash",
)
REQUIRED_COLUMNS = (DATE_COLUMN, "Sent Amount", "Sent Currency", "Received Amount", "Received Currency")
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
UTC_SUFFIX = " UTC"  # Koinly writes its dates as "YYYY-MM-DD HH:MM UTC"
LABEL_COLUMN_ALIASES = ("Tag",)  # newer Koinly templates call the Label column "Tag"
# A currency is a ticker: letters and digits, then also . _ - : / (Koinly ids like USDC.E, NFT:123, BNB-BEP20).
CURRENCY_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._:/-]*")
MAX_ERRORS_SHOWN = 5

# Koinly's documented tags (https://support.koinly.io/en/articles/9490023-what-are-tags) -> ledger kind,
# by which side the row has. Where the Austrian rules leave room, the row is booked under the
# assumption in ``*_ASSUMPTIONS``; the tax report names it in its warnings.
RECEIVED_LABELS = {
    "reward": LedgerKind.REWARD,
    "staking": LedgerKind.REWARD,
    "bounty": LedgerKind.REWARD,
    "airdrop": LedgerKind.AIRDROP,
    "fork": LedgerKind.FORK,
    "mining": LedgerKind.INCOME,
    "loan interest": LedgerKind.INCOME,
    "lending interest": LedgerKind.INCOME,
    "income": LedgerKind.INCOME,
    "other income": LedgerKind.INCOME,
    "gift": LedgerKind.GIFT_IN,
    "salary": LedgerKind.BUY,
    "cashback": LedgerKind.REWARD,
    "fee refund": LedgerKind.REWARD,
    "loan": LedgerKind.BUY,
    "margin loan": LedgerKind.BUY,
    "realized pnl": LedgerKind.BUY,
    "remove from pool": LedgerKind.TRANSFER_IN,
    "liquidity in": LedgerKind.DEPOSIT,
}
SENT_LABELS = {
    "lost": LedgerKind.LOSS,
    "stolen": LedgerKind.LOSS,
    "gift": LedgerKind.GIFT_OUT,
    "donation": LedgerKind.GIFT_OUT,
    "cost": LedgerKind.FEE,
    "fee": LedgerKind.FEE,
    "spend": LedgerKind.SPEND,
    "tax": LedgerKind.SPEND,
    "margin fee": LedgerKind.SPEND,
    "loan fee": LedgerKind.SPEND,
    "interest payment": LedgerKind.SPEND,
    "realized pnl": LedgerKind.SPEND,
    "add to pool": LedgerKind.TRANSFER_OUT,
    "liquidity out": LedgerKind.WITHDRAWAL,
}
TRADE_LABELS = {"", "swap", "trade", "liquidity in", "liquidity out"}
RECEIVED_ASSUMPTIONS = {
    "salary": "crypto received as salary is acquired at its market value (Net Worth); the salary itself is "
    "employment income, declared outside this report",
    "cashback": "cashback is a price reduction, not income: the units are acquired at cost 0",
    "fee refund": "a fee refund is a price reduction, not income: the units are acquired at cost 0",
    "loan": "borrowed coins are acquired at their market value (Net Worth); borrowing is no income",
    "margin loan": "borrowed coins are acquired at their market value (Net Worth); borrowing is no income",
    "realized pnl": "a derivative's realised profit paid in coins: the coins are acquired at their market value; "
    "the profit itself is derivative income (declare it as such, not as crypto)",
    "liquidity in": "coins received from a liquidity pool are treated as a deposit from an own wallet",
}
SENT_ASSUMPTIONS = {
    "tax": "coins paid as tax are spent: a realisation at market value",
    "margin fee": "coins paid as a margin fee are spent: a realisation at market value; the fee is not deductible",
    "loan fee": "coins paid as a loan fee are spent: a realisation at market value; the fee is not deductible",
    "interest payment": "coins paid as interest are spent: a realisation at market value; the interest is not "
    "deductible",
    "realized pnl": "a derivative's realised loss paid in coins is a realisation of the coins at market value; the "
    "loss itself is a derivative loss (declare it as such, not as crypto)",
    "liquidity out": "coins sent to a liquidity pool are treated as a withdrawal to an own wallet",
}
TRADE_ASSUMPTIONS = {
    "liquidity in": "coins exchanged for liquidity pool tokens are a crypto → crypto swap: no realisation",
    "liquidity out": "liquidity pool tokens exchanged for coins are a crypto → crypto swap: no realisation",
}


class KoinlyImportError(PermanentError, ValueError):
    """The file cannot be imported; the message names the line(s) and the problem(s)."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    wallet: str
    rows_read: int
    rows_inserted: int
    needs_review: tuple[str, ...] = ()  # one line per row with an unknown tag: kept, not used in balances or tax
    assumptions: tuple[str, ...] = ()  # the assumptions rows of this file were booked under (named in the report)

    @property
    def rows_skipped(self) -> int:
        """Rows already in the ledger (an earlier import of the same data)."""
        return self.rows_read - self.rows_inserted


def parse_koinly_csv(text: str, wallet: str) -> list[dict[str, Any]]:
    """Parse and check a whole file; return ledger rows ready to insert, or raise ``KoinlyImportError``."""
    wallet = wallet.strip()
    if not wallet or len(wallet) > 80:
        raise KoinlyImportError("the wallet name must be 1 to 80 characters")
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise KoinlyImportError("line 1: the file is empty (expected the Koinly header row)") from None
    except csv.Error as error:
        raise KoinlyImportError(f"line 1: not a CSV file ({error})") from None
    header = [name.strip() for name in header]
    if "Date" in header and DATE_COLUMN not in header:
        header[header.index("Date")] = DATE_COLUMN
    for alias in LABEL_COLUMN_ALIASES:
        if alias in header and "Label" not in header:
            header[header.index(alias)] = "Label"
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise KoinlyImportError(
            f"line 1: not a Koinly universal CSV: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    line = 1
    last_line = reader.line_num  # physical lines: a quoted field may span several
    try:
        for values in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(value.strip() for value in values):
                continue
            spans = f" (the row runs to line {last_line}: is a quote not closed?)" if last_line > line else ""
            if len(values) > len(header):
                errors.append(f"line {line}: {len(values)} fields, the header has {len(header)}{spans}")
                continue
            record = {name: (values[index].strip() if index < len(values) else "") for index, name in enumerate(header)}
            try:
                row = _ledger_row(record, wallet, line)
            except KoinlyImportError as error:
                errors.append(f"{error}{spans}")
                continue
            digest = row.pop("_digest")
            seen[digest] = seen.get(digest, 0) + 1
            row["external_id"] = f"koinly:{digest}:{seen[digest]}"
            rows.append(row)
    except csv.Error as error:
        errors.append(f"line {line}: unreadable CSV ({error})")
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise KoinlyImportError("; ".join(errors[:MAX_ERRORS_SHOWN]) + more + ". Nothing was imported.")
    if not rows:
        raise KoinlyImportError("the file has a header but no transactions. Nothing was imported.")
    return rows


def _shown(text: str, limit: int = 40) -> str:
    """Return a value for an error message: its first line, at most ``limit`` characters."""
    first = text.splitlines()[0] if text else text
    return first if len(first) <= limit and first == text else first[:limit] + "…"


def _amount(record: dict[str, str], column: str, line: int) -> Decimal | None:
    text = record.get(column, "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise KoinlyImportError(
            f"line {line}: {column} '{_shown(text)}' is not a number (use a dot for decimals)"
        ) from None
    if not value.is_finite():
        raise KoinlyImportError(f"line {line}: {column} '{_shown(text)}' is not a finite number")
    if value < 0:
        raise KoinlyImportError(f"line {line}: {column} '{_shown(text)}' is negative (Koinly amounts are positive)")
    return value


def _side(
    record: dict[str, str], amount_column: str, currency_column: str, line: int
) -> tuple[str | None, Decimal | None]:
    amount = _amount(record, amount_column, line)
    currency = record.get(currency_column, "").upper() or None
    if amount is not None and currency is None:
        raise KoinlyImportError(f"line {line}: {amount_column} is given but {currency_column} is empty")
    if currency is not None and amount is None:
        raise KoinlyImportError(f"line {line}: {currency_column} is given but {amount_column} is empty")
    if currency is not None and len(currency) > 20:
        raise KoinlyImportError(f"line {line}: {currency_column} '{_shown(currency)}' is longer than 20 characters")
    if currency is not None and not CURRENCY_PATTERN.fullmatch(currency):
        raise KoinlyImportError(
            f"line {line}: {currency_column} '{_shown(currency)}' is not a currency code "
            "(letters and digits, e.g. BTC, EUR)"
        )
    if amount is not None and amount == 0:
        return None, None
    return currency, amount


def _parse_date(text: str, line: int) -> datetime:
    value = text[: -len(UTC_SUFFIX)].rstrip() if text.upper().endswith(UTC_SUFFIX) else text
    for date_format in DATE_FORMATS:
        try:
            return datetime.strptime(value, date_format).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise KoinlyImportError(f"line {line}: {DATE_COLUMN} '{_shown(text)}' is not a date like 2024-01-15 13:45 (UTC)")


def _ledger_row(record: dict[str, str], wallet: str, line: int) -> dict[str, Any]:
    if not record.get(DATE_COLUMN):
        raise KoinlyImportError(f"line {line}: {DATE_COLUMN} is empty")
    ts = _parse_date(record[DATE_COLUMN], line)
    sent_asset, sent_quantity = _side(record, "Sent Amount", "Sent Currency", line)
    received_asset, received_quantity = _side(record, "Received Amount", "Received Currency", line)
    fee_asset, fee_quantity = _side(record, "Fee Amount", "Fee Currency", line)
    worth_currency, worth_amount = _side(record, "Net Worth Amount", "Net Worth Currency", line)
    label = record.get("Label", "").strip().lower()
    kind = _kind(label, sent_asset, received_asset, fee_asset, line)
    description = record.get("Description") or None
    if kind is None:  # a well-formed row with a tag this importer does not know: kept, never used
        sides = " ".join(
            f"{name} {amount} {asset}"
            for name, asset, amount in (
                ("sent", sent_asset, sent_quantity),
                ("received", received_asset, received_quantity),
                ("fee", fee_asset, fee_quantity),
            )
            if asset
        )
        description = f"Koinly CSV line {line}: unknown tag '{_shown(label)}' ({sides})"
        sent_asset = sent_quantity = received_asset = received_quantity = fee_asset = fee_quantity = None
        worth_currency = worth_amount = None
        kind = LedgerKind.NEEDS_REVIEW
    else:
        assumption = _assumption(label, sent_asset, received_asset)
        if assumption:
            base = description or f"Koinly {label}"
            description = f"{base} (assumption: {assumption})"
    value_eur: Decimal | None = None
    if sent_asset == "EUR" and received_asset and not is_fiat(received_asset):
        value_eur = sent_quantity
    elif received_asset == "EUR" and sent_asset and not is_fiat(sent_asset):
        value_eur = received_quantity
    elif worth_currency == "EUR":
        value_eur = worth_amount
    fiat_only = all(asset is None or is_fiat(asset) for asset in (sent_asset, received_asset, fee_asset))
    raw: dict[str, str | int] = {name: record.get(name, "") for name in COLUMNS if name in record}
    raw["line"] = line
    digest_source = "|".join([wallet, ts.isoformat()] + [record.get(name, "") for name in COLUMNS])
    return {
        "_digest": hashlib.sha256(digest_source.encode()).hexdigest()[:40],
        "ts": ts,
        "account": wallet,
        "kind": kind,
        "origin": LedgerOrigin.KOINLY_CSV,
        "sent_asset": sent_asset,
        "sent_quantity": sent_quantity,
        "received_asset": received_asset,
        "received_quantity": received_quantity,
        "fee_asset": fee_asset,
        "fee_quantity": fee_quantity,
        "value_eur": value_eur,
        "kest_withheld_eur": None,
        "instrument_id": None,
        "asset_class": None if kind is LedgerKind.NEEDS_REVIEW else "fiat" if fiat_only else "crypto",
        "order_ref": None,
        "description": description,
        "raw": raw,
        "created_at": utc_now(),
    }


def _assumption(label: str, sent: str | None, received: str | None) -> str | None:
    if sent and received:
        return TRADE_ASSUMPTIONS.get(label)
    if received:
        return RECEIVED_ASSUMPTIONS.get(label)
    return SENT_ASSUMPTIONS.get(label) if sent else None


def _kind(label: str, sent: str | None, received: str | None, fee: str | None, line: int) -> LedgerKind | None:
    """The ledger kind of a row's sides and tag; None for a tag this importer does not know on those sides."""
    if sent and received:
        if label not in TRADE_LABELS:
            return None
        if is_fiat(sent) and not is_fiat(received):
            return LedgerKind.BUY
        if is_fiat(received) and not is_fiat(sent):
            return LedgerKind.SELL
        return LedgerKind.SWAP
    if received:
        if not label:
            return LedgerKind.DEPOSIT
        return RECEIVED_LABELS.get(label)
    if sent:
        if not label:
            return LedgerKind.WITHDRAWAL
        return SENT_LABELS.get(label)
    if fee:
        return LedgerKind.FEE
    raise KoinlyImportError(f"line {line}: no Sent, Received or Fee amount: nothing moved")


def import_koinly_rows(session: Session, rows: list[dict[str, Any]], wallet: str) -> ImportResult:
    """Insert parsed rows in the caller's transaction; rows already imported are skipped."""
    refuse_while_demo(session, RealAct.IMPORT_ACCOUNT_HISTORY)
    count_query = select(func.count(LedgerEntry.id)).where(
        LedgerEntry.origin == LedgerOrigin.KOINLY_CSV, LedgerEntry.account == wallet.strip()
    )
    known = [row["external_id"] for row in rows if row["kind"] is not LedgerKind.NEEDS_REVIEW]
    for start in range(0, len(known), 500):  # an import that now knows a row's tag replaces its needs-review entry
        session.execute(
            delete(LedgerEntry).where(
                LedgerEntry.origin == LedgerOrigin.KOINLY_CSV,
                LedgerEntry.kind == LedgerKind.NEEDS_REVIEW,
                LedgerEntry.external_id.in_(known[start : start + 500]),
            )
        )
    before = session.scalar(count_query) or 0
    bulk_upsert(
        session,
        LedgerEntry.__table__,  # type: ignore[arg-type]
        rows,
        conflict_columns=["origin", "external_id"],
        update_columns=None,
    )
    after = session.scalar(count_query) or 0
    marked = [str(row["description"]) for row in rows if "(assumption: " in (row.get("description") or "")]
    return ImportResult(
        wallet=wallet.strip(),
        rows_read=len(rows),
        rows_inserted=after - before,
        needs_review=tuple(str(row["description"]) for row in rows if row["kind"] is LedgerKind.NEEDS_REVIEW),
        assumptions=tuple(sorted({text.rsplit("(assumption: ", 1)[1].rstrip(")") for text in marked})),
    )


def import_koinly_file(session: Session, path: Path, wallet: str) -> ImportResult:
    """Check and import one Koinly universal CSV file into ``wallet`` (all or nothing; refused in demo mode)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise KoinlyImportError(f"the file is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise KoinlyImportError(f"cannot read {path}: {error.strerror or error}") from None
    rows = parse_koinly_csv(text, wallet)
    result = import_koinly_rows(session, rows, wallet)
    logger.info("Koinly import into %s: %d rows read, %d new", result.wallet, result.rows_read, result.rows_inserted)
    for line in result.needs_review:
        logger.warning(
            "Koinly import into %s: kept as needs review (not used in balances or tax): %s", result.wallet, line
        )
    return result
