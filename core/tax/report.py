"""Build a year's tax report from the database: load the ledger, value it in EUR, run the engine.

``build_report(session, year)`` is the one entry point for the CLI, the page and the exports;
``TaxReport.to_json_text()`` is the JSON contract of ``konsens tax report --format json``
(``to_json()`` is that text parsed).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.db.base import SQLITE_DATETIME_FORMAT
from core.demo.state import has_demo_data
from core.market.models import Instrument
from core.market.query import eur_price_of_asset
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.tax.assumptions import TaxAssumptions, load_assumptions
from core.tax.engine import (
    CENT,
    KEST_RATE,
    ZERO,
    Category,
    EngineResult,
    Movement,
    Regime,
    TaxRow,
    TaxWarning,
    WarningCode,
    compute_year,
    is_fiat,
    round_eur,
    year_bounds,
)
from core.tax.models import TaxKestEntry, TaxWallet
from core.timeutil import ensure_utc, to_vienna, utc_now

logger = logging.getLogger(__name__)

KENNZAHLEN = ("171", "172", "173", "174", "175", "176", "899", "E1-801")
KENNZAHL_LABELS = {
    "171": "Current income from crypto, domestic provider (KESt withheld)",
    "172": "Current income from crypto, foreign provider / no KESt",
    "173": "Realised gains from crypto, domestic provider (KESt withheld)",
    "174": "Realised gains from crypto, foreign provider / no KESt",
    "175": "Realised losses from crypto, domestic provider",
    "176": "Realised losses from crypto, foreign provider / no KESt",
    "899": "KESt withheld domestically, to be credited",
    "E1-801": "Altvermögen speculation income, § 31 EStG (form E 1, progressive rate)",
}
DEMO_NOTICE = "DEMO DATA: this database holds synthetic demo data; the figures below are not a real tax report."
ADVISER_NOTE = (
    "This report is computed from the ledger under the assumptions listed. It is not tax advice: "
    "have a tax adviser (Steuerberater) review it before you file. Verify the Kennzahlen against the year's E 1kv form."
)
# Kinds valued from prices when the row has no EUR value (deposits only when unmatched: in the engine).
NEEDS_VALUE_KINDS = frozenset({LedgerKind.BUY, LedgerKind.SELL, LedgerKind.SWAP, LedgerKind.SPEND, LedgerKind.INCOME})
TRANSFER_KINDS = (LedgerKind.DEPOSIT, LedgerKind.WITHDRAWAL, LedgerKind.TRANSFER_IN, LedgerKind.TRANSFER_OUT)


_freeze_lock = threading.Lock()
_freeze_depth = 0  # how many heap_frozen() blocks are open, in any thread


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep the objects alive before a report out of the collector's full passes while the report is built.

    Loading a year (100,000 movements) and running the engine (109,000 rows) keep about 210,000
    GC-tracked objects alive (every Movement and TaxRow: slots dataclasses holding enum members,
    so they can never be untracked); as they pile up, the collector runs two or three full
    collections, each walking the whole heap — in a dashboard process with many sessions, far more
    than the report. ``gc.freeze()`` moves every object alive at the start into the permanent
    generation, so those collections walk only what was allocated since; ``refreeze()`` (called
    by the loader and the engine every ``REFREEZE_EVERY`` movements) freezes the report's own
    objects as it goes, so no full collection walks them twice; ``gc.unfreeze()`` puts everything
    back into the oldest generation at the end.

    Unlike the earlier ``gc.disable()`` around the report, the collector stays on for every
    thread: other sessions' and workers' new objects (and the report's own) are collected as
    usual. What changes for them is only that a cycle which was already alive at the start
    is found after the block instead of during it. Blocks nest and may overlap across threads
    (a shared count under a lock): the heap is unfrozen when the last open block ends, also on
    an exception (``gc.unfreeze()`` releases every frozen object, also any frozen before).
    """
    global _freeze_depth
    with _freeze_lock:
        if _freeze_depth == 0:
            gc.freeze()
        _freeze_depth += 1
    try:
        yield
    finally:
        with _freeze_lock:
            _freeze_depth -= 1
            if _freeze_depth == 0:
                gc.unfreeze()


# Movements loaded or processed between two ``refreeze()`` calls: about one young collection's worth
# of new objects (threshold 700), so the report's survivors are frozen before a middle or full
# collection walks them (GC per 100,000-row report 0.25 s at 16,384, 0.02 s at 512).
REFREEZE_EVERY = 512


def refreeze() -> None:
    """Inside ``heap_frozen``: freeze what was allocated since, too (``gc.freeze()`` is a list splice, O(1)).

    The report's movements and rows live until it is done; without this, every full collection the
    growing report triggers walks all of them again (two to four times over). The young collections
    still run between two calls (``gc.freeze()`` only restarts the youngest generation's count), for
    the report's short-lived objects and every other thread's. Outside a block it does nothing.
    """
    if _freeze_depth:
        gc.freeze()


def money(amount: Decimal | None) -> str | None:
    """Format an EUR amount as a decimal string with two places (None stays None)."""
    return None if amount is None else f"{round_eur(amount):f}"


def price_text(amount: Decimal | None) -> str | None:
    """Format a per-unit average price with up to 8 places."""
    if amount is None:
        return None
    return f"{amount.quantize(Decimal('0.00000001')):f}"


def quantity_text(quantity: Decimal) -> str:
    """Format a quantity without trailing zeros (at most 18 places)."""
    text = str(quantity)  # plain notation unless it has an exponent: then as format "f" writes it
    if "E" in text:
        text = f"{quantity:f}"
    point = text.find(".")
    if point < 0:
        return text
    if len(text) - point > 19:  # more than 18 places
        text = f"{quantity:.18f}"
    return text.rstrip("0").rstrip(".")


@dataclass(frozen=True)
class WalletInfo:
    """A wallet seen in the ledger and whether it is at a domestic (KESt-withholding) provider."""

    wallet: str
    domestic: bool
    configured: bool  # True: from the wallet settings; False: the default rule


@dataclass(frozen=True)
class KestLine:
    """One line of the KESt reconciliation (a domestic wallet)."""

    wallet: str
    gains: Decimal
    losses: Decimal
    income: Decimal
    net: Decimal
    kest_withheld_ledger: Decimal
    kest_withheld_entered: Decimal
    kest_expected: Decimal

    @property
    def kest_withheld(self) -> Decimal:
        return self.kest_withheld_ledger + self.kest_withheld_entered

    @property
    def difference(self) -> Decimal:
        """Withheld − expected: positive means the provider withheld more than 27.5 % of the net."""
        return self.kest_withheld - self.kest_expected


@dataclass
class TaxReport:
    """A year's report: the engine result plus everything the outputs need."""

    year: int
    result: EngineResult
    assumptions: TaxAssumptions
    demo: bool
    wallets: list[WalletInfo]
    generated_at: datetime = field(default_factory=utc_now)
    paper_entries_excluded: int = 0

    @property
    def rows(self) -> list[TaxRow]:
        return self.result.rows

    @property
    def warnings(self) -> list[TaxWarning]:
        extra: list[TaxWarning] = []
        if self.demo:
            extra.append(TaxWarning(code=WarningCode.DEMO_DATA, message=DEMO_NOTICE))
        if self.paper_entries_excluded:
            extra.append(
                TaxWarning(
                    code=WarningCode.PAPER_EXCLUDED,
                    message=f"{self.paper_entries_excluded} paper-trading ledger entries of {self.year} are simulated "
                    "and left out (setting include_paper_trades).",
                )
            )
        return extra + self.result.warnings

    def summary(self) -> dict[str, Decimal]:
        """Return the year's figures, each rounded to cents.

        Gains, losses and income are the sums of their Kennzahlen (173 + 174, 175 + 176, 171 + 172),
        each rounded first: the figures typed into the form add up to the totals shown, and the
        tax is 27.5 % of the net the tax office computes from them.
        """
        totals = self.result.totals
        kennzahlen = self.kennzahlen()
        gains = kennzahlen["173"] + kennzahlen["174"]
        losses = kennzahlen["175"] + kennzahlen["176"]
        income = kennzahlen["171"] + kennzahlen["172"]
        net = gains - losses + income
        tax = round_eur(net * KEST_RATE) if net > 0 else Decimal("0.00")
        return {
            "realised_gains_eur": gains,
            "realised_losses_eur": losses,
            "current_income_eur": income,
            "net_eur": net,
            "tax_eur": tax,
            "speculation_income_eur": round_eur(totals.speculation),
            "tax_free_gains_eur": round_eur(totals.tax_free),
            "kest_withheld_eur": round_eur(totals.kest_withheld),
        }

    def kennzahlen(self) -> dict[str, Decimal]:
        """Return the E 1kv / E 1 figures to type in, rounded to cents."""
        totals = self.result.totals
        return {
            "171": round_eur(totals.income_withholding),
            "172": round_eur(totals.income_other),
            "173": round_eur(totals.gains_withholding),
            "174": round_eur(totals.gains_other),
            "175": round_eur(totals.losses_withholding),
            "176": round_eur(totals.losses_other),
            "899": round_eur(totals.kest_withheld),
            "E1-801": round_eur(max(totals.speculation, ZERO)),
        }

    def kest_reconciliation(self) -> list[KestLine]:
        """Return one line per domestic wallet (or wallet with KESt withheld) in the year."""
        lines = []
        for wallet, result in sorted(self.result.wallets.items()):
            if not result.domestic and not result.kest_withheld:
                continue
            gains = round_eur(result.withholding_gains)
            losses = round_eur(result.withholding_losses)
            income = round_eur(result.withholding_income)
            net = gains - losses + income  # the line adds up as shown
            lines.append(
                KestLine(
                    wallet=wallet,
                    gains=gains,
                    losses=losses,
                    income=income,
                    net=net,
                    kest_withheld_ledger=round_eur(result.kest_withheld_ledger),
                    kest_withheld_entered=round_eur(result.kest_withheld_entered),
                    kest_expected=round_eur(net * KEST_RATE) if net > 0 else Decimal("0.00"),
                )
            )
        return lines

    def kest_settlement(self) -> dict[str, Decimal]:
        """How the withheld KESt is credited when everything is declared (option to offset / correct)."""
        summary = self.summary()
        credit = summary["kest_withheld_eur"]
        kennzahlen = self.kennzahlen()
        other_net = kennzahlen["174"] - kennzahlen["176"] + kennzahlen["172"]  # as declared: rounded Kennzahlen
        return {
            "tax_on_all_neu_eur": summary["tax_eur"],
            "kest_credit_eur": credit,
            "payable_after_credit_eur": summary["tax_eur"] - credit,
            "foreign_only_net_eur": other_net,
            "foreign_only_tax_eur": round_eur(other_net * KEST_RATE) if other_net > 0 else Decimal("0.00"),
        }

    def to_json(self) -> dict[str, Any]:
        """Return the report in the JSON shape of ``konsens tax report --format json`` (``to_json_text`` parsed)."""
        data: dict[str, Any] = orjson.loads(self.to_json_bytes())
        return data

    def to_json_text(self) -> str:
        """Return the report as the indented JSON text (two spaces) of ``konsens tax report --format json``."""
        return self.to_json_bytes().decode("utf-8")

    def to_json_bytes(self, *, newline: bool = False) -> bytes:
        """Return ``to_json_text()`` encoded as UTF-8 (what the command writes, with ``newline``: and a line end).

        Written by orjson (non-ASCII characters as UTF-8, not escaped): amounts are strings (see
        ``rows_to_json``), so parsing the text gives exactly the report's JSON shape.
        """
        summary = self.summary()
        data = {
            "year": self.year,
            "neu": {
                key: money(summary[key])
                for key in ("realised_gains_eur", "realised_losses_eur", "current_income_eur", "net_eur", "tax_eur")
            },
            "alt": {
                "speculation_income_eur": money(summary["speculation_income_eur"]),
                "tax_free_gains_eur": money(summary["tax_free_gains_eur"]),
            },
            "kest_withheld_eur": money(summary["kest_withheld_eur"]),
            "kennzahlen": {key: money(value) for key, value in self.kennzahlen().items()},
            "transactions": rows_to_json(self.rows),
            "warnings": [warning_to_json(warning) for warning in self.warnings],
            "assumptions": self.assumptions.listed(),
        }
        option = orjson.OPT_INDENT_2 | (orjson.OPT_APPEND_NEWLINE if newline else 0)
        return orjson.dumps(data, default=str, option=option)


# The keys of a detail row in JSON, in order; ``rows_to_json`` is the one definition of their values.
ROW_KEYS = (
    "id",
    "ledger_entry_id",
    "external_id",
    "date",
    "wallet",
    "coin",
    "category",
    "quantity",
    "proceeds_eur",
    "cost_eur",
    "gain_eur",
    "average_before_eur",
    "average_after_eur",
    "regime",
    "rule",
    "kennzahl",
    "withholding",
    "kest_withheld_eur",
    "origin",
)


def rows_json_text(rows: list[TaxRow]) -> str:
    """Return detail rows as an indented JSON list (the report's ``"transactions"``), written by orjson."""
    return orjson.dumps(rows_to_json(rows), option=orjson.OPT_INDENT_2).decode("utf-8")


def rows_to_json(rows: list[TaxRow]) -> list[dict[str, Any]]:
    """Return detail rows as JSON-ready dicts, as in ``TaxReport.to_json``.

    Amounts are two-place strings rounded half up like ``round_eur``, averages eight places
    (``price_text``), quantities without trailing zeros (``quantity_text``); enums as their values.
    Every value is a str, int, bool or None: the dicts hold no object the cyclic collector tracks,
    so 100,000 of them do not trigger its full passes.
    """
    # A pool's "average after" is the same value as the next movement's "average before" (see
    # ``_Pool.average``): format each value once. Keyed by the Decimal (its hash is cached in the
    # object); equal values give equal text, as they are all quantized to eight places.
    averages: dict[Decimal | None, str | None] = {None: None}
    enum_values = {member: member.value for member in (*Category, *Regime)}
    cent, eighth = CENT, _EIGHT_PLACES
    data: list[dict[str, Any]] = []
    append = data.append
    with localcontext() as context:
        context.rounding = ROUND_HALF_UP  # quantize rounds like round_eur
        for row in rows:
            proceeds, cost, gain = row.proceeds_eur, row.cost_eur, row.gain_eur
            before, after, kest = row.average_before_eur, row.average_after_eur, row.kest_withheld_eur
            quantity = row.quantity
            quantity_str = str(quantity)  # quantity_text, inline (one call per row less)
            if "E" in quantity_str:
                quantity_str = f"{quantity:f}"
            point = quantity_str.find(".")
            if point >= 0:
                if len(quantity_str) - point > 19:  # more than 18 places
                    quantity_str = f"{quantity:.18f}"
                quantity_str = quantity_str.rstrip("0").rstrip(".")
            before_str = averages.get(before)
            if before_str is None and before is not None:
                before_str = averages[before] = _average_text(before, eighth)
            after_str = averages.get(after)
            if after_str is None and after is not None:
                after_str = averages[after] = _average_text(after, eighth)
            append(
                {
                    "id": row.row_id,
                    "ledger_entry_id": row.entry_id,
                    "external_id": row.external_id,
                    "date": row.ts_text or row.ts.isoformat(),
                    "wallet": row.wallet,
                    "coin": row.coin,
                    "category": enum_values[row.category],
                    "quantity": quantity_str,
                    # a quantized Decimal of exponent -2 prints in plain notation, as format "f" does
                    "proceeds_eur": None if proceeds is None else str(proceeds.quantize(cent)),
                    "cost_eur": None if cost is None else str(cost.quantize(cent)),
                    "gain_eur": None if gain is None else str(gain.quantize(cent)),
                    "average_before_eur": before_str,
                    "average_after_eur": after_str,
                    "regime": enum_values[row.regime],
                    "rule": row.rule,
                    "kennzahl": row.kennzahl,
                    "withholding": row.withholding,
                    "kest_withheld_eur": None if kest is None else str(kest.quantize(cent)),
                    "origin": row.origin,
                }
            )
    return data


_EIGHT_PLACES = Decimal("0.00000001")


def _average_text(average: Decimal, places: Decimal) -> str:
    """``price_text`` inside a half-up context: eight places, plain notation (zero is 0E-8 in ``str``)."""
    text = str(average.quantize(places))
    return text if "E" not in text else f"{average:.8f}"


def warning_to_json(warning: TaxWarning) -> dict[str, Any]:
    """Return one warning with the ids of the rows behind it."""
    return {
        "code": warning.code.value,
        "message": warning.message,
        "rows": list(warning.row_ids),
        "ledger_entry_ids": list(warning.entry_ids),
        "wallet": warning.wallet,
        "coin": warning.coin,
    }


# ----- loading -----------------------------------------------------------------------------------------


def wallet_infos(session: Session, assumptions: TaxAssumptions) -> list[WalletInfo]:
    """Return every wallet of the ledger or the wallet settings with its domestic flag."""
    configured = {row.wallet: row.domestic for row in session.scalars(select(TaxWallet))}
    ledger_wallets = set(session.scalars(select(LedgerEntry.account).distinct()))
    defaults = {name.lower() for name in assumptions.domestic_wallets}
    infos = []
    for wallet in sorted(ledger_wallets | set(configured)):
        if wallet in configured:
            infos.append(WalletInfo(wallet, configured[wallet], True))
        else:
            infos.append(WalletInfo(wallet, wallet.lower() in defaults, False))
    return infos


def report_years(session: Session) -> list[int]:
    """Return the tax years (calendar years in Vienna, as ``year_bounds``) that have ledger entries, newest first."""
    first, last = session.execute(select(func.min(LedgerEntry.ts), func.max(LedgerEntry.ts))).one()
    if first is None:
        return []
    return list(range(to_vienna(last).year, to_vienna(first).year - 1, -1))


LOAD_SQL = (
    "SELECT id, ts, account, kind, origin, external_id, sent_asset, sent_quantity, received_asset, "
    "received_quantity, fee_asset, fee_quantity, value_eur, kest_withheld_eur, asset_class "
    "FROM ledger_entries WHERE ts < :before ORDER BY ts, id"
)


def load_movements(
    session: Session,
    before: datetime,
    assumptions: TaxAssumptions,
    *,
    price_lookup: Callable[[str, datetime], Decimal | None] | None = None,
    annotated: list[AnnotatedEntry] | None = None,
) -> tuple[list[Movement], int]:
    """Load every ledger entry before ``before`` as engine movements (values in EUR filled in from prices).

    Reads through the driver (no ORM objects: 100,000 rows in well under a second). On SQLite,
    where Numeric columns are stored as floating point, values are turned back into their
    shortest decimal form (0.1, not 0.100000000000000006). Return the movements and the number
    of paper entries left out.
    """
    lookup = price_lookup or cached_price_lookup(session)
    extras = _transfer_and_flat_cost_extras(session, before)
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows: Any
    if sqlite:
        bound = before.astimezone(UTC).replace(tzinfo=None).strftime(SQLITE_DATETIME_FORMAT)
        # the raw driver cursor: no per-row processing (a Core select of the typed columns reads the same
        # values through the column types' result processors, but takes about 1.0 s for 100,000 rows, this 0.3 s)
        rows = session.connection().connection.cursor().execute(LOAD_SQL.replace(":before", "?"), (bound,))
    else:
        rows = session.execute(text(LOAD_SQL), {"before": before})
    kinds = {kind.value: kind for kind in LedgerKind}
    if annotated is None:
        annotated = annotated_entries(session, before)
    review_notes = {entry.entry_id: entry.description for entry in annotated if entry.kind is LedgerKind.NEEDS_REVIEW}
    paper_origin = LedgerOrigin.PAPER.value
    include_paper = assumptions.include_paper_trades
    movements: list[Movement] = []
    append = movements.append
    parse_time = datetime.fromisoformat
    decimal_of = _DecimalMemo()
    paper = 0
    for (
        entry_id,
        ts,
        wallet,
        kind_text,
        origin,
        external_id,
        sent_asset,
        sent_quantity,
        received_asset,
        received_quantity,
        fee_asset,
        fee_quantity,
        value_eur,
        kest,
        asset_class,
    ) in rows:
        if origin == paper_origin and not include_paper:
            paper += 1
            continue
        ts_text = None
        if sqlite:
            # stored as naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff": one parse, and its ISO form by slicing
            ts_text = f"{ts[:10]}T{ts[11:19]}+00:00" if ts.endswith(".000000") else f"{ts[:10]}T{ts[11:]}+00:00"
            ts = parse_time(ts_text)
            sent_quantity = decimal_of[sent_quantity]
            received_quantity = decimal_of[received_quantity]
            fee_quantity = decimal_of[fee_quantity]
            value_eur = decimal_of[value_eur]
            kest = decimal_of[kest]
        else:
            ts = ts.astimezone(UTC)
        kind = kinds[kind_text]
        if value_eur is None and kind in NEEDS_VALUE_KINDS:
            value_eur = _value_from_prices(lookup, ts, sent_asset, sent_quantity, received_asset, received_quantity)
        fee_value = None
        if fee_asset and fee_quantity and fee_asset != "EUR" and fee_asset.upper() != "EUR":
            price = lookup(fee_asset.upper(), ts)
            fee_value = price * fee_quantity if price is not None else None
        tx_hash, flat_cost = extras.get(entry_id, (None, False))
        if not len(movements) % REFREEZE_EVERY:
            refreeze()
        append(
            Movement(
                entry_id,
                ts,
                wallet,
                kind,
                sent_asset,
                sent_quantity,
                received_asset,
                received_quantity,
                fee_asset,
                fee_quantity,
                value_eur,
                fee_value,
                kest,
                asset_class,
                origin,
                external_id,
                tx_hash,
                flat_cost,
                ts_text,
                review_notes.get(entry_id) if kind is LedgerKind.NEEDS_REVIEW else None,
            )
        )
    return movements, paper


ASSUMPTION_MARK = "(assumption: "  # importers end a row's description with it where the law leaves room


@dataclass(frozen=True)
class AnnotatedEntry:
    """A ledger entry whose description the report shows: needs review, or booked under an assumption."""

    entry_id: int
    ts: datetime
    kind: LedgerKind
    description: str


def annotated_entries(session: Session, before: datetime) -> list[AnnotatedEntry]:
    """Return the needs-review entries and the entries booked under an import assumption before ``before``.

    One scan of the ledger for both (the tax report reads them once per report).
    """
    query = (
        select(LedgerEntry.id, LedgerEntry.ts, LedgerEntry.kind, LedgerEntry.description)
        .where(
            LedgerEntry.ts < before,
            (LedgerEntry.kind == LedgerKind.NEEDS_REVIEW) | LedgerEntry.description.like(f"%{ASSUMPTION_MARK}%"),
        )
        .order_by(LedgerEntry.ts, LedgerEntry.id)
    )
    return [
        AnnotatedEntry(entry_id, ensure_utc(ts), kind, description or "")
        for entry_id, ts, kind, description in session.execute(query)
    ]


def assumption_warnings(entries: list[AnnotatedEntry], year: int) -> list[TaxWarning]:
    """One warning per import assumption used by entries of ``year``, naming how many entries and which."""
    start, end = year_bounds(year)
    grouped: dict[str, list[int]] = {}
    for entry in entries:
        if start <= entry.ts < end and ASSUMPTION_MARK in entry.description:
            text = entry.description.rsplit(ASSUMPTION_MARK, 1)[1].rstrip(")").strip()
            grouped.setdefault(text, []).append(entry.entry_id)
    return [
        TaxWarning(
            code=WarningCode.IMPORT_ASSUMPTION,
            message=f"{len(ids)} imported row(s) were booked under an assumption: {text}. "
            "Check them with a tax adviser.",
            entry_ids=ids,
        )
        for text, ids in grouped.items()
    ]


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


class _DecimalMemo(dict[Any, Decimal | None]):
    """``memo[value]``: the Decimal of a value read from the driver (``None`` stays ``None``), memoised.

    Amounts repeat (a buy's EUR side is its value, fees...): only non-integral floats are kept,
    so no int (``5 == 5.0``), bool or signed zero (``-0.0 == 0.0``) ever meets an entry of
    another form; the others are converted on every read. A subscript instead of a function
    call: one C-level lookup for the common case.
    """

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, value: Any) -> Decimal:
        if value.__class__ is float:  # ``_decimal`` of a float, inline (about 100,000 distinct amounts a year)
            found = Decimal(repr(value))
            if not value.is_integer():
                self[value] = found
            return found
        return _decimal(value)


def _value_from_prices(
    lookup: Callable[[str, datetime], Decimal | None],
    ts: datetime,
    sent_asset: str | None,
    sent_quantity: Decimal | None,
    received_asset: str | None,
    received_quantity: Decimal | None,
) -> Decimal | None:
    """Value a movement from collected prices: an EUR side, else a crypto side, else a fiat side."""
    sides = [(sent_asset, sent_quantity), (received_asset, received_quantity)]
    for asset, quantity in sides:
        if asset and quantity and asset.upper() == "EUR":
            return quantity
    ordered = [side for side in sides if side[0] and not is_fiat(side[0])] + [
        side for side in sides if side[0] and is_fiat(side[0])
    ]
    for asset, quantity in ordered:
        if asset and quantity:
            price = lookup(asset.upper(), ts)
            if price is not None:
                return price * quantity
    return None


def cached_price_lookup(session: Session) -> Callable[[str, datetime], Decimal | None]:
    """Return ``lookup(asset, ts)``: the EUR price from collected candles, cached per asset and hour."""
    cache: dict[tuple[str, datetime], Decimal | None] = {}
    known: dict[str, bool] = {}

    def lookup(asset: str, ts: datetime) -> Decimal | None:
        if asset == "EUR":
            return Decimal(1)
        if asset not in known:
            known[asset] = (
                session.scalar(
                    select(Instrument.id).where(Instrument.base == asset, Instrument.quote == "EUR").limit(1)
                )
                is not None
            )
        if not known[asset]:
            return None
        key = (asset, ts.replace(minute=0, second=0, microsecond=0))
        if key not in cache:
            cache[key] = eur_price_of_asset(session, asset, ts)
        return cache[key]

    return lookup


def _transfer_and_flat_cost_extras(session: Session, before: datetime) -> dict[int, tuple[str | None, bool]]:
    """Read the raw rows only where needed: transfer hashes and provider flat-cost flags."""
    query = select(LedgerEntry.id, LedgerEntry.raw).where(
        LedgerEntry.ts < before,
        LedgerEntry.raw.is_not(None),
        (LedgerEntry.kind.in_(TRANSFER_KINDS) & (LedgerEntry.origin == LedgerOrigin.KOINLY_CSV))
        | LedgerEntry.kest_withheld_eur.is_not(None),
    )
    extras: dict[int, tuple[str | None, bool]] = {}
    for entry_id, raw in session.execute(query):
        if not isinstance(raw, dict):
            continue
        tx_hash = raw.get("TxHash") or raw.get("tx_hash") or None
        flat_cost = bool(raw.get("flat_cost"))
        if tx_hash or flat_cost:
            extras[entry_id] = (str(tx_hash) if tx_hash else None, flat_cost)
    return extras


def entered_kest(session: Session, year: int) -> list[tuple[str, Decimal]]:
    """Return the (wallet, amount) KESt entries the user made for ``year``."""
    rows = session.execute(select(TaxKestEntry.wallet, TaxKestEntry.amount_eur).where(TaxKestEntry.year == year))
    return [(wallet, amount) for wallet, amount in rows]


def database_has_demo_data(session: Session) -> bool:
    """Return True if the database holds demo data (seed marker or demo ledger rows)."""
    if has_demo_data(session):
        return True
    return session.scalar(select(LedgerEntry.id).where(LedgerEntry.origin == LedgerOrigin.DEMO).limit(1)) is not None


def build_report(session: Session, year: int, *, assumptions: TaxAssumptions | None = None) -> TaxReport:
    """Compute the report for ``year`` from the ledger (read-only)."""
    assumptions = assumptions or load_assumptions(session)
    start, end = year_bounds(year)
    lookup = cached_price_lookup(session)
    paper_in_year = 0
    if not assumptions.include_paper_trades:
        paper_in_year = (
            session.scalar(
                select(func.count(LedgerEntry.id)).where(
                    LedgerEntry.origin == LedgerOrigin.PAPER, LedgerEntry.ts >= start, LedgerEntry.ts < end
                )
            )
            or 0
        )
    wallets = wallet_infos(session, assumptions)
    kest_entries = entered_kest(session, year)
    with heap_frozen():  # the heap before the report stays out of the full collections it triggers
        annotated = annotated_entries(session, end)
        movements, _ = load_movements(session, end, assumptions, price_lookup=lookup, annotated=annotated)
        result = compute_year(
            movements,
            year,
            assumptions,
            domestic_wallets=[info.wallet for info in wallets if info.domestic],
            entered_kest=kest_entries,
            price_of=lookup,
            checkpoint=refreeze,
        )
    result.warnings.extend(assumption_warnings(annotated, year))
    logger.info(
        "Tax report %s: %d movements, %d rows, %d warnings",
        year,
        len(movements),
        len(result.rows),
        len(result.warnings),
    )
    return TaxReport(
        year=year,
        result=result,
        assumptions=assumptions,
        demo=database_has_demo_data(session),
        wallets=wallets,
        paper_entries_excluded=paper_in_year,
    )
