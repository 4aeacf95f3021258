"""The Austrian crypto tax engine: pure computation over ledger movements (no database, no I/O).

One pass over every movement up to the end of the report year, in time order, keeps per coin and
per wallet:

- Altvermögen lots (acquired up to 28 Feb 2021) with their dates and costs, never in the average;
- Neuvermögen as a moving-average pool (quantity and total EUR cost); while FIFO applies
  (realisations before 1 Jan 2023 by default) the Neuvermögen units are also kept as dated lots.

Realisations are classified by the law that applies on their date:

- before 1 Mar 2022 (old law, § 31 EStG): gain of units held up to one year is speculation income
  (E 1 KZ 801), later tax-free; 1 Jan – 28 Feb 2022 the taxpayer may opt for 27.5 %;
- from 1 Mar 2022: Neuvermögen results at 27.5 % (E 1kv KZ 171–176), Altvermögen by § 31.

Every row of the year is recorded with the rule applied; every gap is a warning.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter

from core.portfolio.models import LedgerKind
from core.portfolio.position_math import cost_of_part
from core.tax.assumptions import AltNeuOrder, TaxAssumptions, TransferFeeTreatment, UnmatchedDepositCost
from core.timeutil import VIENNA
from core.values import round_eur

ZERO = Decimal(0)
CENT = Decimal("0.01")
KEST_RATE = Decimal("0.275")
FLAT_COST_KEST_RATE = KEST_RATE / 2  # KESt on a gain of 50 % of the proceeds
DUST = Decimal("1e-12")

FIAT_CURRENCIES = frozenset(
    {
        "EUR",
        "USD",
        "GBP",
        "CHF",
        "JPY",
        "CAD",
        "AUD",
        "NZD",
        "PLN",
        "CZK",
        "HUF",
        "SEK",
        "NOK",
        "DKK",
        "TRY",
        "RON",
        "BGN",
        "HRK",
        "ZAR",
        "BRL",
        "MXN",
        "SGD",
        "HKD",
        "CNY",
        "INR",
        "KRW",
    }
)
CRYPTO_ASSET_CLASSES = frozenset({"", "crypto", "cryptocurrency", "stablecoin", "token"})
# Kind groups of the dispatch in ``_Engine.process`` (sets: one hash lookup per movement).
ZERO_COST_LABELS = {LedgerKind.REWARD: "staking reward", LedgerKind.AIRDROP: "airdrop", LedgerKind.FORK: "hard fork"}
ZERO_COST_KINDS = frozenset(ZERO_COST_LABELS)
LEAVING_KINDS = frozenset({LedgerKind.GIFT_OUT, LedgerKind.LOSS, LedgerKind.FEE})
TRANSFER_IN_KINDS = frozenset({LedgerKind.DEPOSIT, LedgerKind.TRANSFER_IN})
TRANSFER_OUT_KINDS = frozenset({LedgerKind.WITHDRAWAL, LedgerKind.TRANSFER_OUT})
# Kinds with no branch of their own in ``_Engine.process``: the sides alone decide.
PLAIN_KINDS = (
    frozenset(LedgerKind)
    - ZERO_COST_KINDS
    - LEAVING_KINDS
    - TRANSFER_IN_KINDS
    - TRANSFER_OUT_KINDS
    - {LedgerKind.INCOME, LedgerKind.GIFT_IN, LedgerKind.SPEND, LedgerKind.NEEDS_REVIEW}
)


# The kinds ``_Engine.process_fast`` handles inline (the rest, and every unusual case, go to ``process``).
FAST_KINDS = frozenset({LedgerKind.BUY, LedgerKind.SELL, LedgerKind.SWAP, *ZERO_COST_KINDS})
BUY_RULE = "purchase with fiat: acquisition cost = price paid + acquisition fees"
SALE_WHAT = "sale for fiat"
ZERO_COST_RULES = {
    kind: f"{label}: no income when received; acquisition cost 0" for kind, label in ZERO_COST_LABELS.items()
}
_UPPER: dict[str, str] = {}


def _upper(text: str) -> str:
    """``text.upper()``, memoised (coin names repeat)."""
    found = _UPPER.get(text)
    if found is None:
        found = _UPPER[text] = text.upper()
    return found


def _vienna_midnight(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=VIENNA).astimezone(UTC)


ALT_CUTOFF = _vienna_midnight(2021, 3, 1)  # acquired before this instant: Altvermögen
OLD_LAW_WINDOW_START = _vienna_midnight(2022, 1, 1)
NEW_LAW_START = _vienna_midnight(2022, 3, 1)  # realisations from here: new law
FIFO_END = _vienna_midnight(2023, 1, 1)  # moving average from here (or from NEW_LAW_START)


class Regime(StrEnum):
    NEU = "Neu"
    ALT = "Alt"
    EXCLUDED = "excluded"


class Category(StrEnum):
    """What a detail row is, for filtering."""

    REALISATION = "realisation"
    INCOME = "income"
    ACQUISITION = "acquisition"
    SWAP = "swap"
    TRANSFER = "transfer"
    NO_REALISATION = "no_realisation"
    EXCLUDED = "excluded"


class WarningCode(StrEnum):
    NEGATIVE_BALANCE = "negative_balance"
    UNMATCHED_TRANSFER = "unmatched_transfer"
    VALUE_MISSING = "value_missing"
    FLAT_COST = "flat_cost"
    EXCLUDED_ASSET_CLASS = "excluded_asset_class"
    GIFT_COST = "gift_cost"
    EARLIER_YEARS = "earlier_years"
    PAPER_EXCLUDED = "paper_excluded"
    DEMO_DATA = "demo_data"
    NEEDS_REVIEW = "needs_review"  # an imported row of an unknown type: not used until it is reviewed
    IMPORT_ASSUMPTION = "import_assumption"  # rows imported under a treatment the law leaves open


@dataclass(slots=True)
class Movement:
    """One ledger entry as the engine sees it (values already in EUR where known)."""

    entry_id: int
    ts: datetime
    wallet: str
    kind: LedgerKind
    sent_asset: str | None = None
    sent_quantity: Decimal | None = None
    received_asset: str | None = None
    received_quantity: Decimal | None = None
    fee_asset: str | None = None
    fee_quantity: Decimal | None = None
    value_eur: Decimal | None = None
    fee_value_eur: Decimal | None = None
    kest_withheld_eur: Decimal | None = None
    asset_class: str | None = None
    origin: str = "manual"
    external_id: str = ""
    tx_hash: str | None = None
    flat_cost: bool = False
    ts_text: str | None = None  # ``ts.isoformat()`` when the loader had it for free (else computed when needed)
    note: str | None = None  # what a needs-review entry is (its description), for the warning


@dataclass(slots=True)
class TaxRow:
    """One line of the per-transaction detail."""

    row_id: str
    entry_id: int
    external_id: str
    ts: datetime
    wallet: str
    coin: str
    category: Category
    quantity: Decimal
    proceeds_eur: Decimal | None
    cost_eur: Decimal | None
    gain_eur: Decimal | None
    average_before_eur: Decimal | None
    average_after_eur: Decimal | None
    regime: Regime
    rule: str
    withholding: bool = False
    kennzahl: str = ""
    kest_withheld_eur: Decimal | None = None
    origin: str = ""
    ts_text: str | None = None  # ``ts.isoformat()`` if known (from the movement), for the JSON text


@dataclass(slots=True)
class TaxWarning:
    """A gap or a case to correct, with the rows behind it."""

    code: WarningCode
    message: str
    row_ids: list[str] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    wallet: str | None = None
    coin: str | None = None


@dataclass(slots=True)
class Totals:
    """The sums of one year (unrounded Decimals)."""

    gains_withholding: Decimal = ZERO
    gains_other: Decimal = ZERO
    losses_withholding: Decimal = ZERO  # positive magnitudes
    losses_other: Decimal = ZERO
    income_withholding: Decimal = ZERO
    income_other: Decimal = ZERO
    speculation: Decimal = ZERO  # § 31 net (gains − losses)
    tax_free: Decimal = ZERO
    kest_withheld: Decimal = ZERO

    @property
    def realised_gains(self) -> Decimal:
        return self.gains_withholding + self.gains_other

    @property
    def realised_losses(self) -> Decimal:
        return self.losses_withholding + self.losses_other

    @property
    def current_income(self) -> Decimal:
        return self.income_withholding + self.income_other

    @property
    def net(self) -> Decimal:
        return self.realised_gains - self.realised_losses + self.current_income

    @property
    def tax(self) -> Decimal:
        return (self.net * KEST_RATE) if self.net > 0 else ZERO


@dataclass(slots=True)
class WalletResult:
    """Neuvermögen results of one wallet in the year (for the KESt reconciliation)."""

    wallet: str
    domestic: bool
    gains: Decimal = ZERO
    losses: Decimal = ZERO
    income: Decimal = ZERO
    withholding_gains: Decimal = ZERO
    withholding_losses: Decimal = ZERO
    withholding_income: Decimal = ZERO
    kest_withheld_ledger: Decimal = ZERO
    kest_withheld_entered: Decimal = ZERO

    @property
    def withholding_net(self) -> Decimal:
        return self.withholding_gains - self.withholding_losses + self.withholding_income

    @property
    def kest_withheld(self) -> Decimal:
        return self.kest_withheld_ledger + self.kest_withheld_entered

    @property
    def kest_expected(self) -> Decimal:
        """27.5 % of the positive withholding net (what the provider should have withheld)."""
        return self.withholding_net * KEST_RATE if self.withholding_net > 0 else ZERO


@dataclass(slots=True)
class EngineResult:
    """The engine's output for one year."""

    year: int
    totals: Totals
    rows: list[TaxRow]
    warnings: list[TaxWarning]
    wallets: dict[str, WalletResult]
    holdings: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]  # (wallet, coin) -> alt qty, neu qty, neu cost


# A lot is a mutable [quantity, cost, acquired_at] list (lists are fast and mutable in place).
Lot = list  # [Decimal, Decimal, datetime]


@dataclass(slots=True)
class _Part:
    """Units taken from a pool: their regime, quantity, cost and acquisition time (None: averaged/unknown)."""

    regime: Regime
    quantity: Decimal
    cost: Decimal
    acquired: datetime | None
    missing: bool = False


class _Pool:
    __slots__ = ("_averaged", "alt_lots", "neu_cost", "neu_lots", "neu_quantity")

    def __init__(self) -> None:
        self.alt_lots: deque[Lot] = deque()
        self.neu_quantity = ZERO
        self.neu_cost = ZERO
        self.neu_lots: deque[Lot] = deque()
        self._averaged: tuple[Decimal, Decimal, Decimal | None] = (ZERO, ZERO, None)

    def average(self) -> Decimal | None:
        """Return the Neu average cost per unit (None when the pool is empty).

        Remembered for the (immutable) quantity and cost objects it was computed from, so the
        "average after" of one movement is the same object as the "average before" of the next.
        """
        quantity, cost, average = self._averaged
        if quantity is self.neu_quantity and cost is self.neu_cost:
            return average
        average = self.neu_cost / self.neu_quantity if self.neu_quantity > DUST else None
        self._averaged = (self.neu_quantity, self.neu_cost, average)
        return average


_FIAT_CACHE: dict[str, bool] = {}


def is_fiat(asset: str | None) -> bool:
    """Return True if ``asset`` is a fiat currency."""
    if asset is None:
        return False
    found = _FIAT_CACHE.get(asset)
    if found is None:
        found = _FIAT_CACHE[asset] = asset.upper() in FIAT_CURRENCIES
    return found


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """Return the UTC instants of 1 Jan 00:00 Vienna of ``year`` and of the next year."""
    return _vienna_midnight(year, 1, 1), _vienna_midnight(year + 1, 1, 1)


def _one_year_later(acquired: datetime) -> date:
    local = acquired.astimezone(VIENNA).date()
    try:
        return local.replace(year=local.year + 1)
    except ValueError:  # 29 Feb
        return local.replace(year=local.year + 1, day=28)


class _Engine:
    fast_paths = True  # ``process_fast`` for the common movements (the tests switch it off for the reference)

    def __init__(
        self,
        year: int,
        assumptions: TaxAssumptions,
        domestic_wallets: set[str],
        withholding_from: datetime,
    ) -> None:
        self.year = year
        self.assumptions = assumptions
        self.domestic = domestic_wallets
        self.withholding_from = withholding_from
        self.year_start, self.year_end = year_bounds(year)
        self.average_from = FIFO_END if assumptions.fifo_2022 else NEW_LAW_START
        self.earliest_first = assumptions.alt_neu_order is AltNeuOrder.EARLIEST_FIRST
        self.takers = (self._take_alt, self._take_neu) if self.earliest_first else (self._take_neu, self._take_alt)
        self.sale_fees_reduce_proceeds = assumptions.sale_fees_reduce_proceeds
        self.pools: dict[tuple[str, str], _Pool] = {}
        self.totals = Totals()
        self.rows: list[TaxRow] = []
        self.warnings: list[TaxWarning] = []
        self.earlier_problems = 0
        self.wallet_results: dict[str, WalletResult] = {}
        self.pending_transfers: dict[int, tuple[list[_Part], Movement]] = {}
        self.row_counter: dict[int, int] = {}
        self.price_of: Callable[[str, datetime], Decimal | None] | None = None
        self.swap_rules: dict[tuple[str, str], tuple[str, str]] = {}  # the rule texts of a swap (sent, received)

    # ----- state helpers -------------------------------------------------------------------------

    def pool(self, wallet: str, coin: str) -> _Pool:
        key = (wallet, coin)
        found = self.pools.get(key)
        if found is None:
            found = self.pools[key] = _Pool()
        return found

    def in_year(self, ts: datetime) -> bool:
        return self.year_start <= ts < self.year_end

    def withholding(self, movement: Movement) -> bool:
        if movement.wallet not in self.domestic:
            return False
        return movement.ts >= self.withholding_from or bool(movement.kest_withheld_eur)

    def wallet_result(self, wallet: str) -> WalletResult:
        found = self.wallet_results.get(wallet)
        if found is None:
            found = self.wallet_results[wallet] = WalletResult(wallet=wallet, domestic=wallet in self.domestic)
        return found

    def acquire(self, pool: _Pool, quantity: Decimal, cost: Decimal, ts: datetime) -> None:
        if quantity <= 0:
            return
        if ts < ALT_CUTOFF:
            pool.alt_lots.append([quantity, cost, ts])
            return
        pool.neu_quantity += quantity
        pool.neu_cost += cost
        if ts < self.average_from:
            pool.neu_lots.append([quantity, cost, ts])

    def put_parts(self, pool: _Pool, parts: Iterable[_Part], ts: datetime) -> None:
        for part in parts:
            if part.quantity <= 0:
                continue
            if part.regime is Regime.ALT and not part.missing:
                pool.alt_lots.append([part.quantity, part.cost, part.acquired or ts])
                _sort_lots(pool.alt_lots)
            else:
                pool.neu_quantity += part.quantity
                pool.neu_cost += part.cost
                if ts < self.average_from:
                    pool.neu_lots.append([part.quantity, part.cost, part.acquired or ts])
                    _sort_lots(pool.neu_lots)

    def take(self, pool: _Pool, quantity: Decimal, ts: datetime) -> list[_Part]:
        """Remove ``quantity`` units: Alt lots (FIFO) and Neu units (FIFO lots or average)."""
        parts: list[_Part] = []
        remaining = quantity
        for taker in self.takers:
            if remaining > DUST:
                remaining = taker(pool, remaining, ts, parts)
        if remaining > DUST:
            parts.append(_Part(Regime.NEU, remaining, ZERO, None, missing=True))
        return parts

    @staticmethod
    def _take_alt(pool: _Pool, remaining: Decimal, ts: datetime, parts: list[_Part]) -> Decimal:
        lots = pool.alt_lots
        while remaining > DUST and lots:
            lot = lots[0]
            if lot[0] <= remaining + DUST:
                parts.append(_Part(Regime.ALT, lot[0], lot[1], lot[2]))
                remaining -= lot[0]
                lots.popleft()
            else:
                cost = cost_of_part(lot[0], lot[1], remaining)
                parts.append(_Part(Regime.ALT, remaining, cost, lot[2]))
                lot[0] -= remaining
                lot[1] -= cost
                remaining = ZERO
        return remaining

    def _take_neu(self, pool: _Pool, remaining: Decimal, ts: datetime, parts: list[_Part]) -> Decimal:
        if pool.neu_quantity <= DUST:
            pool.neu_quantity = ZERO
            pool.neu_cost = ZERO
            pool.neu_lots.clear()
            return remaining
        if ts < self.average_from:
            lots = pool.neu_lots
            while remaining > DUST and lots:
                lot = lots[0]
                if lot[0] <= remaining + DUST:
                    parts.append(_Part(Regime.NEU, lot[0], lot[1], lot[2]))
                    remaining -= lot[0]
                    pool.neu_quantity -= lot[0]
                    pool.neu_cost -= lot[1]
                    lots.popleft()
                else:
                    cost = cost_of_part(lot[0], lot[1], remaining)
                    parts.append(_Part(Regime.NEU, remaining, cost, lot[2]))
                    lot[0] -= remaining
                    lot[1] -= cost
                    pool.neu_quantity -= remaining
                    pool.neu_cost -= cost
                    remaining = ZERO
            if not lots or pool.neu_quantity <= DUST:
                pool.neu_quantity, pool.neu_cost = ZERO, ZERO
                lots.clear()
            return remaining
        if pool.neu_lots:
            pool.neu_lots.clear()  # from the start of the moving average, dates no longer matter
        if pool.neu_quantity <= remaining + DUST:
            parts.append(_Part(Regime.NEU, pool.neu_quantity, pool.neu_cost, None))
            remaining -= pool.neu_quantity
            pool.neu_quantity, pool.neu_cost = ZERO, ZERO
            return remaining if remaining > DUST else ZERO
        cost = cost_of_part(pool.neu_quantity, pool.neu_cost, remaining)
        parts.append(_Part(Regime.NEU, remaining, cost, None))
        pool.neu_quantity -= remaining
        pool.neu_cost -= cost
        return ZERO

    # ----- rows and warnings ----------------------------------------------------------------------

    def row(
        self,
        movement: Movement,
        coin: str,
        category: Category,
        quantity: Decimal,
        *,
        rule: str,
        regime: Regime = Regime.NEU,
        proceeds: Decimal | None = None,
        cost: Decimal | None = None,
        gain: Decimal | None = None,
        average_before: Decimal | None = None,
        average_after: Decimal | None = None,
        wallet: str | None = None,
        kennzahl: str = "",
        withholding: bool = False,
        kest: Decimal | None = None,
        ts: datetime | None = None,
    ) -> TaxRow | None:
        return self._row(
            movement,
            ts or movement.ts,
            wallet or movement.wallet,
            coin,
            category,
            quantity,
            proceeds,
            cost,
            gain,
            average_before,
            average_after,
            regime,
            rule,
            withholding,
            kennzahl,
            kest,
        )

    def _row(
        self,
        movement: Movement,
        when: datetime,
        wallet: str,
        coin: str,
        category: Category,
        quantity: Decimal,
        proceeds: Decimal | None,
        cost: Decimal | None,
        gain: Decimal | None,
        average_before: Decimal | None,
        average_after: Decimal | None,
        regime: Regime,
        rule: str,
        withholding: bool,
        kennzahl: str,
        kest: Decimal | None,
    ) -> TaxRow | None:
        """``row`` with positional arguments (the hot paths: buys, sales, rewards)."""
        if not self.year_start <= when < self.year_end:
            return None
        entry_id = movement.entry_id
        number = self.row_counter.get(entry_id, 0) + 1
        self.row_counter[entry_id] = number
        row = TaxRow(  # positional: the field order of TaxRow (keywords cost a lot on 100,000 rows)
            f"{entry_id}-{number}",
            entry_id,
            movement.external_id,
            when,
            wallet,
            coin,
            category,
            quantity,
            proceeds,
            cost,
            gain,
            average_before,
            average_after,
            regime,
            rule,
            withholding,
            kennzahl,
            kest,
            movement.origin,
            movement.ts_text if when is movement.ts else None,
        )
        self.rows.append(row)
        return row

    def warn(
        self,
        movement: Movement,
        code: WarningCode,
        message: str,
        row: TaxRow | None = None,
        coin: str | None = None,
        *,
        ts: datetime | None = None,
    ) -> None:
        when = ts or movement.ts
        if when < self.year_start:
            if code is not WarningCode.EXCLUDED_ASSET_CLASS:
                self.earlier_problems += 1
            return
        if when >= self.year_end:
            return
        self.warnings.append(
            TaxWarning(
                code=code,
                message=message,
                row_ids=[row.row_id] if row is not None else [],
                entry_ids=[movement.entry_id],
                wallet=movement.wallet,
                coin=coin,
            )
        )

    # ----- classification of realised parts --------------------------------------------------------

    def realise(
        self,
        movement: Movement,
        coin: str,
        parts: list[_Part],
        proceeds_total: Decimal,
        *,
        what: str,
        average_before: Decimal | None,
        average_after: Decimal | None,
        allow_window_option: bool = True,
    ) -> list[TaxRow]:
        """Book realised parts; one row per regime/outcome group. Return the rows of the year."""
        ts = movement.ts
        if len(parts) == 1:  # the common case: one averaged Neu part
            quantity_total = parts[0].quantity
            groups: dict[str, list[_Part]] = {self._outcome(parts[0], ts, allow_window_option): parts}
        else:
            quantity_total = sum((part.quantity for part in parts), ZERO)
            groups = {}
            for part in parts:
                groups.setdefault(self._outcome(part, ts, allow_window_option), []).append(part)
        rows: list[TaxRow] = []
        withholding = self.withholding(movement)
        booked = self.in_year(ts)
        for outcome, group in groups.items():
            if len(group) == 1:
                first = group[0]
                quantity, cost, has_missing = first.quantity, first.cost, first.missing
                regime = Regime.ALT if first.regime is Regime.ALT else Regime.NEU
            else:
                quantity = sum((part.quantity for part in group), ZERO)
                cost = sum((part.cost for part in group), ZERO)
                has_missing = any(part.missing for part in group)
                regime = Regime.ALT if all(part.regime is Regime.ALT for part in group) else Regime.NEU
            if quantity == quantity_total:
                proceeds = proceeds_total
            else:
                proceeds = proceeds_total * quantity / quantity_total if quantity_total > 0 else ZERO
            gain = proceeds - cost
            kennzahl, rule = self._book(outcome, gain, withholding, movement.wallet, booked, what)
            row = self._row(
                movement,
                ts,
                movement.wallet,
                coin,
                Category.REALISATION,
                quantity,
                proceeds,
                cost,
                gain,
                average_before,
                average_after,
                regime,
                rule,
                withholding and outcome == "new",
                kennzahl,
                None,
            )
            if row is not None:
                rows.append(row)
            if has_missing:
                missing = sum((part.quantity for part in group if part.missing), ZERO)
                self.warn(
                    movement,
                    WarningCode.NEGATIVE_BALANCE,
                    f"{what} of {_qty(missing)} {coin} in wallet '{movement.wallet}' with no known acquisition "
                    "(negative balance): cost 0 assumed. Import the missing history or correct the wallet.",
                    row,
                    coin,
                )
        return rows

    def _outcome(self, part: _Part, ts: datetime, allow_window_option: bool) -> str:
        if ts >= NEW_LAW_START:
            if part.regime is Regime.NEU:
                return "new"
        elif (
            part.regime is Regime.NEU
            and ts >= OLD_LAW_WINDOW_START
            and self.assumptions.old_law_window_option
            and allow_window_option
        ):
            return "new"
        if part.acquired is None:
            return "speculation"  # unknown acquisition under the old law: within a year (conservative)
        return "speculation" if ts.astimezone(VIENNA).date() <= _one_year_later(part.acquired) else "tax_free"

    def _book(
        self, outcome: str, gain: Decimal, withholding: bool, wallet: str, booked: bool, what: str
    ) -> tuple[str, str]:
        totals = self.totals
        if outcome == "new":
            result = self.wallet_result(wallet)
            if booked:
                if gain >= 0:
                    result.gains += gain
                    if withholding:
                        totals.gains_withholding += gain
                        result.withholding_gains += gain
                    else:
                        totals.gains_other += gain
                else:
                    result.losses -= gain
                    if withholding:
                        totals.losses_withholding -= gain
                        result.withholding_losses -= gain
                    else:
                        totals.losses_other -= gain
            kennzahl = ("173" if withholding else "174") if gain >= 0 else "175" if withholding else "176"
            return kennzahl, f"{what}: Neuvermögen realisation at 27.5 % (gain = proceeds − cost)"
        if outcome == "speculation":
            if booked:
                totals.speculation += gain
            return "E1-801", f"{what}: old law § 31, held up to one year: speculation income (progressive rate)"
        if booked:
            totals.tax_free += gain
        return "", f"{what}: old law § 31, held more than one year: tax-free"

    # ----- movements --------------------------------------------------------------------------------

    def process(self, movement: Movement) -> None:
        kind = movement.kind
        if kind is LedgerKind.NEEDS_REVIEW:  # never used: its sides are empty; it is only reported
            self.warn(
                movement,
                WarningCode.NEEDS_REVIEW,
                f"Ledger entry {movement.origin}:{movement.external_id} in wallet '{movement.wallet}' needs review "
                f"and is not used in this report: {movement.note or 'a source row of an unknown type'}.",
            )
            return
        if movement.kest_withheld_eur and self.in_year(movement.ts):
            self.totals.kest_withheld += movement.kest_withheld_eur
            self.wallet_result(movement.wallet).kest_withheld_ledger += movement.kest_withheld_eur
        sent = movement.sent_asset.upper() if movement.sent_asset else None
        received = movement.received_asset.upper() if movement.received_asset else None
        sent_quantity = movement.sent_quantity or ZERO
        received_quantity = movement.received_quantity or ZERO
        if sent_quantity <= 0:
            sent = None
        if received_quantity <= 0:
            received = None
        sent_crypto = sent is not None and sent not in FIAT_CURRENCIES  # already upper case
        received_crypto = received is not None and received not in FIAT_CURRENCIES

        fee_asset = movement.fee_asset
        crypto_fee = bool(fee_asset and movement.fee_quantity and fee_asset.upper() not in FIAT_CURRENCIES)
        if not sent_crypto and not received_crypto and not crypto_fee:
            return  # fiat-only movements (EUR deposits, withdrawals) do not concern the report
        if (movement.asset_class or "").lower() not in CRYPTO_ASSET_CLASSES:
            # crypto given for a non-crypto asset (both sides non-fiat) is a realisation of the crypto
            paid_with_crypto = sent_crypto and received_crypto and kind is not LedgerKind.SELL
            self.excluded(movement, sent if paid_with_crypto else None, received if paid_with_crypto else None)
            return
        if kind in PLAIN_KINDS:  # buy, sell, swap...: only the sides decide (the common case)
            self._by_sides(
                movement, sent, sent_quantity, received, received_quantity, crypto_fee, sent_crypto, received_crypto
            )
            return
        if kind in ZERO_COST_KINDS and received_crypto:
            self.zero_cost_acquisition(movement, received or "", received_quantity)
        elif kind is LedgerKind.INCOME and received_crypto:
            self.income(movement, received or "", received_quantity)
        elif kind is LedgerKind.GIFT_IN and received_crypto:
            self.gift_in(movement, received or "", received_quantity)
        elif kind in LEAVING_KINDS and sent_crypto:
            self.leave_without_realisation(movement, sent or "", sent_quantity)
        elif kind in TRANSFER_IN_KINDS and received_crypto and not sent:
            self.transfer_in(movement, received or "", received_quantity)
        elif kind in TRANSFER_OUT_KINDS and sent_crypto and not received:
            self.transfer_out(movement, sent or "", sent_quantity)
        elif kind is LedgerKind.SPEND and sent_crypto:
            self.sale(movement, sent or "", sent_quantity, what="spending", spend=True)
        else:
            self._by_sides(
                movement, sent, sent_quantity, received, received_quantity, crypto_fee, sent_crypto, received_crypto
            )

    # ----- fast paths ----------------------------------------------------------------------------------

    def process_fast(self, movement: Movement) -> None:
        """``process`` for the common plain movements, inlined; everything else goes to ``process``.

        Handled here (in the moving-average period, asset class crypto, no crypto fee, nothing that
        warns): a purchase with EUR (an EUR fee or none), a sale for EUR of units the wallet holds
        (no Altvermögen lots left in it, sale fees not deducted), a swap of such units for another
        coin (the cost carries over), a staking reward / airdrop / fork received. Every condition
        is checked before anything changes, and the rows, totals, pools and averages are those
        ``process`` books (same Decimal operations in the same order); the tests compare both on
        random ledgers (``tests/core/tax/test_engine_fast_path.py``). Any other case (or a tiny
        quantity, a negative balance, a missing value) is left to ``process``.
        """
        kind = movement.kind
        ts = movement.ts
        if ts < self.average_from or kind not in FAST_KINDS:
            self.process(movement)
            return
        asset_class = movement.asset_class
        if asset_class is not None and asset_class not in CRYPTO_ASSET_CLASSES:
            self.process(movement)
            return
        fee_asset = movement.fee_asset
        fee_quantity = movement.fee_quantity
        if fee_quantity and fee_asset is not None and fee_asset != "EUR":
            self.process(movement)  # a fee in another currency or in crypto
            return
        if kind is LedgerKind.BUY:
            coin = movement.received_asset
            quantity = movement.received_quantity
            if (
                movement.sent_asset != "EUR"
                or coin is None
                or quantity is None
                or not quantity > DUST
                or (coin := _upper(coin)) in FIAT_CURRENCIES
            ):
                self.process(movement)
                return
            cost = movement.sent_quantity or ZERO
            if fee_quantity:
                if fee_asset is None:  # ``fee_eur`` adds a zero: left to ``process``
                    self.process(movement)
                    return
                cost += fee_quantity  # an EUR fee (``fee_eur``)
            self._fast_kest(movement)
            pool = self.pools.get((movement.wallet, coin)) or self.pool(movement.wallet, coin)
            before = pool.average()
            pool.neu_quantity += quantity  # ``acquire`` in the moving-average period
            pool.neu_cost += cost
            after = pool.average()
            if self.year_start <= ts < self.year_end:  # ``_row``, inline
                entry_id = movement.entry_id
                number = self.row_counter.get(entry_id, 0) + 1
                self.row_counter[entry_id] = number
                self.rows.append(
                    TaxRow(
                        f"{entry_id}-{number}",
                        entry_id,
                        movement.external_id,
                        ts,
                        movement.wallet,
                        coin,
                        Category.ACQUISITION,
                        quantity,
                        None,
                        cost,
                        None,
                        before,
                        after,
                        Regime.NEU,
                        BUY_RULE,
                        False,
                        "",
                        None,
                        movement.origin,
                        movement.ts_text,
                    )
                )
            return
        if kind is LedgerKind.SELL:
            coin = movement.sent_asset
            quantity = movement.sent_quantity
            proceeds = movement.received_quantity
            if (
                movement.received_asset != "EUR"
                or coin is None
                or quantity is None
                or not quantity > DUST
                or proceeds is None
                or not proceeds > 0
                or self.sale_fees_reduce_proceeds
                or (coin := _upper(coin)) in FIAT_CURRENCIES
            ):
                self.process(movement)
                return
            held = self.pools.get((movement.wallet, coin))
            if held is None or held.alt_lots or not held.neu_quantity > DUST:
                self.process(movement)
                return
            pool = held
            whole = pool.neu_quantity <= quantity + DUST
            if whole and quantity - pool.neu_quantity > DUST:
                self.process(movement)  # more than the wallet holds: a negative balance
                return
            self._fast_kest(movement)
            before = pool.average()
            if pool.neu_lots:
                pool.neu_lots.clear()  # from the start of the moving average, dates no longer matter
            if whole:  # ``_take_neu``: all units leave
                quantity, cost = pool.neu_quantity, pool.neu_cost
                pool.neu_quantity, pool.neu_cost = ZERO, ZERO
            else:
                cost = cost_of_part(pool.neu_quantity, pool.neu_cost, quantity)
                pool.neu_quantity -= quantity
                pool.neu_cost -= cost
            after = pool.average()
            wallet = movement.wallet
            withholding = wallet in self.domestic and (ts >= self.withholding_from or bool(movement.kest_withheld_eur))
            gain = proceeds - cost
            booked = self.year_start <= ts < self.year_end
            kennzahl, rule = self._book("new", gain, withholding, wallet, booked, SALE_WHAT)
            if not booked:
                return  # no row: ``check_flat_cost`` has nothing to mark
            entry_id = movement.entry_id  # ``_row``, inline
            number = self.row_counter.get(entry_id, 0) + 1
            self.row_counter[entry_id] = number
            row = TaxRow(
                f"{entry_id}-{number}",
                entry_id,
                movement.external_id,
                ts,
                wallet,
                coin,
                Category.REALISATION,
                quantity,
                proceeds,
                cost,
                gain,
                before,
                after,
                Regime.NEU,
                rule,
                withholding,
                kennzahl,
                None,
                movement.origin,
                movement.ts_text,
            )
            self.rows.append(row)
            if movement.kest_withheld_eur is not None or movement.flat_cost:
                self.check_flat_cost(movement, coin, [row], proceeds)
            return
        if kind is LedgerKind.SWAP:
            self._fast_swap(movement)
            return
        # a staking reward, an airdrop, a hard fork (``zero_cost_acquisition``)
        coin = movement.received_asset
        quantity = movement.received_quantity
        sent_quantity = movement.sent_quantity
        if (
            (movement.sent_asset is not None and sent_quantity is not None and sent_quantity > 0)
            or coin is None
            or quantity is None
            or not quantity > DUST
            or (coin := _upper(coin)) in FIAT_CURRENCIES
        ):
            self.process(movement)
            return
        self._fast_kest(movement)
        pool = self.pools.get((movement.wallet, coin)) or self.pool(movement.wallet, coin)
        before = pool.average()
        pool.neu_quantity += quantity
        pool.neu_cost += ZERO
        self._row(
            movement,
            ts,
            movement.wallet,
            coin,
            Category.ACQUISITION,
            quantity,
            None,
            ZERO,
            None,
            before,
            pool.average(),
            Regime.NEU,
            ZERO_COST_RULES[kind],
            False,
            "",
            None,
        )

    def _fast_swap(self, movement: Movement) -> None:
        """``swap`` of Neuvermögen units the wallet holds for another coin (no crypto fee): the cost carries over."""
        sent = movement.sent_asset
        sent_quantity = movement.sent_quantity
        received = movement.received_asset
        received_quantity = movement.received_quantity
        if (
            sent is None
            or received is None
            or sent_quantity is None
            or received_quantity is None
            or not sent_quantity > DUST
            or not received_quantity > 0
            or (sent := _upper(sent)) in FIAT_CURRENCIES
            or (received := _upper(received)) in FIAT_CURRENCIES
            or sent == received
        ):
            self.process(movement)
            return
        wallet = movement.wallet
        source = self.pools.get((wallet, sent))
        if source is None or source.alt_lots or not source.neu_quantity > DUST:
            self.process(movement)
            return
        whole = source.neu_quantity <= sent_quantity + DUST
        if whole and sent_quantity - source.neu_quantity > DUST:
            self.process(movement)  # more than the wallet holds: a negative balance
            return
        self._fast_kest(movement)
        source_before = source.average()
        if source.neu_lots:
            source.neu_lots.clear()
        if whole:  # ``_take_neu``: all units leave
            part_quantity, part_cost = source.neu_quantity, source.neu_cost
            source.neu_quantity, source.neu_cost = ZERO, ZERO
        else:
            part_quantity = sent_quantity
            part_cost = cost_of_part(source.neu_quantity, source.neu_cost, sent_quantity)
            source.neu_quantity -= sent_quantity
            source.neu_cost -= part_cost
        carried_cost = ZERO + part_cost  # ``sum(..., ZERO)`` of the one carried part, as ``swap`` adds it
        carried_quantity = ZERO + part_quantity
        rules = self.swap_rules.get((sent, received))
        if rules is None:
            rules = self.swap_rules[(sent, received)] = (
                f"swap {sent} → {received}: not a realisation; the cost carries over to {received}",
                f"received in swap from {sent}: cost = carried cost",
            )
        ts = movement.ts
        self._row(
            movement,
            ts,
            wallet,
            sent,
            Category.SWAP,
            carried_quantity,
            carried_cost,
            carried_cost,
            ZERO,
            source_before,
            source.average(),
            Regime.NEU,
            rules[0],
            False,
            "",
            None,
        )
        target = self.pools.get((wallet, received)) or self.pool(wallet, received)
        target_before = target.average()
        cost = carried_cost + ZERO + ZERO  # + the realised value and the fee cost, both zero here
        target.neu_quantity += received_quantity  # ``acquire`` in the moving-average period
        target.neu_cost += cost
        self._row(
            movement,
            ts,
            wallet,
            received,
            Category.SWAP,
            received_quantity,
            None,
            cost,
            None,
            target_before,
            target.average(),
            Regime.NEU,
            rules[1],
            False,
            "",
            None,
        )

    def _fast_kest(self, movement: Movement) -> None:
        """The KESt of the ledger row, as ``process`` books it first."""
        if movement.kest_withheld_eur and self.in_year(movement.ts):
            self.totals.kest_withheld += movement.kest_withheld_eur
            self.wallet_result(movement.wallet).kest_withheld_ledger += movement.kest_withheld_eur

    def _by_sides(
        self,
        movement: Movement,
        sent: str | None,
        sent_quantity: Decimal,
        received: str | None,
        received_quantity: Decimal,
        crypto_fee: bool,
        sent_crypto: bool,
        received_crypto: bool,
    ) -> None:
        """A movement whose kind has no rule of its own: its sides decide (swap, sale, buy, crypto fee).

        ``sent`` and ``received`` are upper case (None when their quantity is not positive);
        ``crypto_fee``: the movement has a fee in a crypto coin (else ``crypto_fee()`` finds none).
        """
        if sent_crypto and received_crypto:
            self.swap(movement, sent or "", sent_quantity, received or "", received_quantity)
        elif sent_crypto:
            self.sale(movement, sent or "", sent_quantity, what="sale", spend=received is None, crypto_fee=crypto_fee)
        elif received_crypto:
            self.buy(movement, received or "", received_quantity, crypto_fee=crypto_fee)
        elif crypto_fee:
            self.leave_without_realisation(movement, (movement.fee_asset or "").upper(), ZERO)
        # fiat-only movements (EUR deposits, withdrawals) do not concern the report

    def excluded(self, movement: Movement, sent_crypto: str | None, received: str | None) -> None:
        asset_class = movement.asset_class or "unknown"
        sides = [movement.received_asset, movement.sent_asset]
        coin = received or next((side for side in sides if side and not is_fiat(side)), None) or "?"
        if sent_crypto:  # crypto given for a non-crypto asset: realisation at market value of the crypto
            self.sale(movement, sent_crypto, movement.sent_quantity or ZERO, what="crypto → non-crypto", spend=True)
        row = self.row(
            movement,
            coin.upper(),
            Category.EXCLUDED,
            (movement.received_quantity if coin == movement.received_asset else movement.sent_quantity) or ZERO,
            regime=Regime.EXCLUDED,
            rule=f"asset class '{asset_class}' is not covered by this crypto report: listed and excluded",
        )
        self.warn(
            movement,
            WarningCode.EXCLUDED_ASSET_CLASS,
            f"{asset_class} {coin} in wallet '{movement.wallet}' is not crypto: excluded from this report "
            f"(declare {asset_class} income separately).",
            row,
            coin,
        )

    def fee_eur(self, movement: Movement) -> Decimal:
        """The EUR value of a fiat fee (crypto fees are handled as units)."""
        if not movement.fee_quantity:
            return ZERO
        fee_asset = (movement.fee_asset or "").upper()
        if not is_fiat(fee_asset):
            return ZERO
        if fee_asset == "EUR":
            return movement.fee_quantity
        if movement.fee_value_eur is None:
            self.warn(
                movement,
                WarningCode.VALUE_MISSING,
                f"No EUR value for the {fee_asset} fee in wallet '{movement.wallet}': fee left out.",
            )
            return ZERO
        return movement.fee_value_eur

    @staticmethod
    def crypto_fee(movement: Movement) -> tuple[str | None, Decimal]:
        """Return the fee's coin (upper case) and quantity if it is paid in crypto, else (None, 0)."""
        if not movement.fee_quantity or movement.fee_quantity <= 0:
            return None, ZERO
        fee_asset = (movement.fee_asset or "").upper()
        if not fee_asset or is_fiat(fee_asset):
            return None, ZERO
        return fee_asset, movement.fee_quantity

    def other_coin_fee_cost(self, movement: Movement, fee_asset: str, quantity: Decimal) -> Decimal:
        """Remove fee units of a third coin without realisation; return their cost."""
        pool = self.pool(movement.wallet, fee_asset)
        before = pool.average()
        parts = self.take(pool, quantity, movement.ts)
        cost = sum((part.cost for part in parts), ZERO)
        row = self.row(
            movement,
            fee_asset,
            Category.NO_REALISATION,
            quantity,
            cost=cost,
            average_before=before,
            average_after=pool.average(),
            rule="fee paid in crypto: units leave without realisation"
            + ("; their cost is added to the coin acquired" if self.assumptions.crypto_fee_on_trade_in_cost else ""),
        )
        self._warn_missing(movement, fee_asset, parts, row, "fee")
        return cost

    def _warn_missing(self, movement: Movement, coin: str, parts: list[_Part], row: TaxRow | None, what: str) -> None:
        missing = sum((part.quantity for part in parts if part.missing), ZERO)
        if missing > DUST:
            self.warn(
                movement,
                WarningCode.NEGATIVE_BALANCE,
                f"{what} of {_qty(missing)} {coin} in wallet '{movement.wallet}' with no known acquisition "
                "(negative balance): cost 0 assumed.",
                row,
                coin,
            )

    def buy(self, movement: Movement, coin: str, quantity: Decimal, *, crypto_fee: bool = True) -> None:
        sent = movement.sent_asset
        cost: Decimal | None = (  # the EUR side, else the row's EUR value
            movement.sent_quantity or ZERO if sent and sent.upper() == "EUR" else movement.value_eur
        )
        rule = "purchase with fiat: acquisition cost = price paid + acquisition fees"
        if cost is None:
            cost = ZERO
            self.warn(
                movement,
                WarningCode.VALUE_MISSING,
                f"No EUR value for the purchase of {_qty(quantity)} {coin} in wallet '{movement.wallet}': "
                "cost 0 assumed.",
                coin=coin,
            )
        if movement.fee_quantity:
            cost += self.fee_eur(movement)
        if crypto_fee:
            fee_asset, fee_quantity = self.crypto_fee(movement)
            if fee_asset == coin:
                quantity -= fee_quantity
            elif fee_asset is not None:
                fee_cost = self.other_coin_fee_cost(movement, fee_asset, fee_quantity)
                if self.assumptions.crypto_fee_on_trade_in_cost:
                    cost += fee_cost
        ts = movement.ts
        pool = self.pools.get((movement.wallet, coin)) or self.pool(movement.wallet, coin)
        before = pool.average()
        self.acquire(pool, quantity, cost, ts)
        self._row(
            movement,
            ts,
            movement.wallet,
            coin,
            Category.ACQUISITION,
            quantity,
            None,
            cost,
            None,
            before,
            pool.average(),
            Regime.ALT if ts < ALT_CUTOFF else Regime.NEU,
            rule,
            False,
            "",
            None,
        )

    def sale(
        self, movement: Movement, coin: str, quantity: Decimal, *, what: str, spend: bool, crypto_fee: bool = True
    ) -> None:
        received = movement.received_asset
        proceeds: Decimal | None
        if not spend and received and received.upper() == "EUR":  # the EUR side
            proceeds = movement.received_quantity or ZERO
        else:  # spending, crypto, or another fiat currency: the row's EUR value
            proceeds = movement.value_eur
        if proceeds is None:
            proceeds = ZERO
            self.warn(
                movement,
                WarningCode.VALUE_MISSING,
                f"No EUR value for the {what} of {_qty(quantity)} {coin} in wallet '{movement.wallet}': "
                "proceeds 0 assumed.",
                coin=coin,
            )
        if self.sale_fees_reduce_proceeds:
            proceeds -= self.fee_eur(movement)
        if crypto_fee:
            fee_asset, fee_quantity = self.crypto_fee(movement)
            if fee_asset == coin:
                quantity += fee_quantity
            elif fee_asset is not None:
                self.other_coin_fee_cost(movement, fee_asset, fee_quantity)
        pool = self.pools.get((movement.wallet, coin)) or self.pool(movement.wallet, coin)
        before = pool.average()
        parts = self.take(pool, quantity, movement.ts)
        label = "spending / crypto → non-crypto at market value" if spend else "sale for fiat"
        rows = self.realise(
            movement, coin, parts, proceeds, what=label, average_before=before, average_after=pool.average()
        )
        if movement.kest_withheld_eur is not None or movement.flat_cost:  # else check_flat_cost changes nothing
            self.check_flat_cost(movement, coin, rows, proceeds)

    def check_flat_cost(self, movement: Movement, coin: str, rows: list[TaxRow], proceeds: Decimal) -> None:
        kest = movement.kest_withheld_eur
        if not rows:
            return
        looks_flat = (
            kest is not None
            and proceeds > 0
            and abs(kest - proceeds * FLAT_COST_KEST_RATE) <= Decimal("0.02")
            and self.wallet_result(movement.wallet).domestic
        )
        cost = sum((row.cost_eur or ZERO for row in rows), ZERO) if movement.flat_cost or looks_flat else ZERO
        if movement.flat_cost or (looks_flat and abs(cost - proceeds / 2) > CENT):
            rows[0].kest_withheld_eur = kest
            self.warn(
                movement,
                WarningCode.FLAT_COST,
                f"Flat cost case: the provider taxed this sale of {coin} with the flat cost of 50 % of the "
                f"proceeds ({round_eur(proceeds / 2)} EUR); the actual cost is {round_eur(cost)} EUR. "
                "Declare the correction in the E 1kv (KESt withheld is credited, KZ 899).",
                rows[0],
                coin,
            )
        elif kest:
            rows[0].kest_withheld_eur = kest

    def swap(
        self, movement: Movement, sent: str, sent_quantity: Decimal, received: str, received_quantity: Decimal
    ) -> None:
        fee_asset, fee_quantity = self.crypto_fee(movement)
        if fee_asset == sent:
            sent_quantity += fee_quantity
        elif fee_asset == received:
            received_quantity -= fee_quantity
        extra_cost = ZERO
        if fee_asset is not None and fee_asset not in (sent, received):
            fee_cost = self.other_coin_fee_cost(movement, fee_asset, fee_quantity)
            if self.assumptions.crypto_fee_on_trade_in_cost:
                extra_cost = fee_cost
        source = self.pool(movement.wallet, sent)
        source_before = source.average()
        parts = self.take(source, sent_quantity, movement.ts)
        carried_parts = [part for part in parts if self._swap_carries(part, movement.ts)]
        realised_parts = [part for part in parts if not self._swap_carries(part, movement.ts)]
        carried_cost = sum((part.cost for part in carried_parts), ZERO)
        carried_quantity = sum((part.quantity for part in carried_parts), ZERO)
        if carried_parts:
            self.row(
                movement,
                sent,
                Category.SWAP,
                carried_quantity,
                proceeds=carried_cost,
                cost=carried_cost,
                gain=ZERO,
                average_before=source_before,
                average_after=source.average(),
                rule=f"swap {sent} → {received}: not a realisation; the cost carries over to {received}",
            )
            self._warn_missing(
                movement, sent, carried_parts, self.rows[-1] if self.in_year(movement.ts) else None, "swap"
            )
        realised_value = ZERO
        if realised_parts:
            total_quantity = carried_quantity + sum((part.quantity for part in realised_parts), ZERO)
            value = movement.value_eur
            if value is None:
                value = ZERO
                self.warn(
                    movement,
                    WarningCode.VALUE_MISSING,
                    f"No EUR value for the swap {sent} → {received} in wallet '{movement.wallet}': the old-law "
                    "realisation is valued at 0.",
                    coin=sent,
                )
            share = sum((part.quantity for part in realised_parts), ZERO) / total_quantity
            realised_value = value * share
            self.realise(
                movement,
                sent,
                realised_parts,
                realised_value,
                what=f"swap {sent} → {received} (old law)",
                average_before=source_before,
                average_after=source.average(),
                allow_window_option=True,
            )
            if not self.assumptions.alt_swap_received_at_market_value:
                realised_value = sum((part.cost for part in realised_parts), ZERO)
        target = self.pool(movement.wallet, received)
        target_before = target.average()
        cost = carried_cost + realised_value + extra_cost
        self.acquire(target, received_quantity, cost, movement.ts)
        self.row(
            movement,
            received,
            Category.SWAP,
            received_quantity,
            cost=cost,
            average_before=target_before,
            average_after=target.average(),
            regime=Regime.ALT if movement.ts < ALT_CUTOFF else Regime.NEU,
            rule=f"received in swap from {sent}: cost = carried cost"
            + (" + market value of the units realised under the old law" if realised_parts else ""),
        )

    @staticmethod
    def _swap_carries(part: _Part, ts: datetime) -> bool:
        return ts >= NEW_LAW_START and part.regime is Regime.NEU

    def zero_cost_acquisition(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        self.acquire(pool, quantity, ZERO, movement.ts)
        self.row(
            movement,
            coin,
            Category.ACQUISITION,
            quantity,
            cost=ZERO,
            average_before=before,
            average_after=pool.average(),
            regime=Regime.ALT if movement.ts < ALT_CUTOFF else Regime.NEU,
            rule=f"{ZERO_COST_LABELS.get(movement.kind, 'reward')}: no income when received; acquisition cost 0",
        )

    def income(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        value = movement.value_eur
        if value is None:
            value = ZERO
            self.warn(
                movement,
                WarningCode.VALUE_MISSING,
                f"No EUR value for income of {_qty(quantity)} {coin} in wallet '{movement.wallet}': "
                "income and cost 0 assumed.",
                coin=coin,
            )
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        self.acquire(pool, quantity, value, movement.ts)
        withholding = self.withholding(movement)
        if self.in_year(movement.ts):
            result = self.wallet_result(movement.wallet)
            result.income += value
            if withholding:
                self.totals.income_withholding += value
                result.withholding_income += value
            else:
                self.totals.income_other += value
        self.row(
            movement,
            coin,
            Category.INCOME,
            quantity,
            proceeds=value,
            cost=value,
            gain=value,
            average_before=before,
            average_after=pool.average(),
            kennzahl="171" if withholding else "172",
            withholding=withholding,
            kest=movement.kest_withheld_eur,
            rule="lending interest / mining: current income at market value; that value is the acquisition cost",
        )

    def gift_in(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        self.acquire(pool, quantity, ZERO, movement.ts)
        row = self.row(
            movement,
            coin,
            Category.ACQUISITION,
            quantity,
            cost=ZERO,
            average_before=before,
            average_after=pool.average(),
            rule="gift received: not a purchase; cost 0 assumed",
        )
        self.warn(
            movement,
            WarningCode.GIFT_COST,
            f"Gift of {_qty(quantity)} {coin} received in wallet '{movement.wallet}': the donor's acquisition "
            "cost and date carry over; cost 0 is assumed until corrected.",
            row,
            coin,
        )

    def leave_without_realisation(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        fee_asset, fee_quantity = self.crypto_fee(movement)
        if fee_asset is not None:
            if fee_asset == coin:
                quantity += fee_quantity
            else:
                self.other_coin_fee_cost(movement, fee_asset, fee_quantity)
        if quantity <= 0:
            return
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        parts = self.take(pool, quantity, movement.ts)
        cost = sum((part.cost for part in parts), ZERO)
        rules = {
            LedgerKind.GIFT_OUT: "gift given: not a sale; the units leave at their cost",
            LedgerKind.LOSS: "lost or stolen: no realisation and no deductible loss",
            LedgerKind.FEE: "fee paid in crypto: units leave without realisation",
        }
        row = self.row(
            movement,
            coin,
            Category.NO_REALISATION,
            quantity,
            cost=cost,
            average_before=before,
            average_after=pool.average(),
            rule=rules.get(movement.kind, "units leave without realisation"),
        )
        self._warn_missing(movement, coin, parts, row, movement.kind.value.replace("_", " "))

    def transfer_out(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        fee_asset, fee_quantity = self.crypto_fee(movement)
        if fee_asset is not None and fee_asset != coin:
            self.other_coin_fee_cost(movement, fee_asset, fee_quantity)
            fee_quantity = ZERO
        leaving = quantity + fee_quantity
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        parts = self.take(pool, leaving, movement.ts)
        match = self.matches.get(movement.entry_id)
        cost = sum((part.cost for part in parts), ZERO)
        if match is None:
            row = self.row(
                movement,
                coin,
                Category.TRANSFER,
                leaving,
                cost=cost,
                average_before=before,
                average_after=pool.average(),
                rule="withdrawal to a wallet outside this ledger: not a realisation; the units leave at their cost",
            )
            self.warn(
                movement,
                WarningCode.UNMATCHED_TRANSFER,
                f"Withdrawal of {_qty(leaving)} {coin} from wallet '{movement.wallet}' matches no deposit in "
                "another wallet: treated as a transfer to an own wallet not in the ledger. Import that wallet "
                "or label the row (sale, spending, gift).",
                row,
                coin,
            )
            self._warn_missing(movement, coin, parts, row, "withdrawal")
            return
        arriving = min(match.received_quantity or ZERO, leaving)
        fee_units = leaving - arriving
        moved_parts, fee_parts = _split_parts(parts, arriving, leaving)
        treatment = self.assumptions.transfer_fee_treatment
        if fee_units > DUST and treatment is TransferFeeTreatment.CARRY_COST:
            moved_parts = _scale_parts(parts, arriving, leaving)
            fee_parts = []
        moved_cost = sum((part.cost for part in moved_parts), ZERO)
        row = self.row(
            movement,
            coin,
            Category.TRANSFER,
            leaving,
            cost=moved_cost,
            average_before=before,
            average_after=pool.average(),
            rule=f"transfer to own wallet '{match.wallet}': not a realisation; units keep their cost and dates"
            + (f"; transfer fee {_qty(fee_units)} {coin}: {treatment.value}" if fee_units > DUST else ""),
        )
        self._warn_missing(movement, coin, parts, row, "transfer")
        if fee_units > DUST and treatment is TransferFeeTreatment.DISPOSAL and fee_parts:
            value = movement.fee_value_eur
            if value is None and match.value_eur is not None and arriving > 0:
                value = match.value_eur * fee_units / arriving
            if value is None:
                value = ZERO
                self.warn(
                    movement,
                    WarningCode.VALUE_MISSING,
                    f"No EUR value for the transfer fee of {_qty(fee_units)} {coin}: disposal valued at 0.",
                    coin=coin,
                )
            self.realise(
                movement,
                coin,
                fee_parts,
                value,
                what="transfer fee paid in crypto (disposal)",
                average_before=before,
                average_after=pool.average(),
            )
        self.pending_transfers[match.entry_id] = (moved_parts, movement)

    def transfer_in(self, movement: Movement, coin: str, quantity: Decimal) -> None:
        pending = self.pending_transfers.pop(movement.entry_id, None)
        pool = self.pool(movement.wallet, coin)
        before = pool.average()
        ts = self.effective_ts.get(movement.entry_id, movement.ts)
        if pending is not None:
            parts, source = pending
            self.put_parts(pool, parts, ts)
            self.row(
                movement,
                coin,
                Category.TRANSFER,
                quantity,
                cost=sum((part.cost for part in parts), ZERO),
                average_before=before,
                average_after=pool.average(),
                rule=f"transfer from own wallet '{source.wallet}': not a realisation; units keep their cost and dates",
            )
            return
        if self.assumptions.unmatched_deposit_cost is UnmatchedDepositCost.MARKET_VALUE:
            cost = movement.value_eur
            if cost is None and self.price_of is not None:
                price = self.price_of(coin, movement.ts)
                cost = price * quantity if price is not None else None
            if cost is None:
                cost = ZERO
                self.warn(
                    movement,
                    WarningCode.VALUE_MISSING,
                    f"No EUR value for the deposit of {_qty(quantity)} {coin} in wallet '{movement.wallet}': "
                    "cost 0 assumed.",
                    coin=coin,
                )
            rule = "deposit from outside the ledger: acquisition at market value (assumption)"
        else:
            cost = ZERO
            rule = "deposit from outside the ledger: acquisition cost 0 (assumption)"
        self.acquire(pool, quantity, cost, movement.ts)
        row = self.row(
            movement,
            coin,
            Category.TRANSFER,
            quantity,
            cost=cost,
            average_before=before,
            average_after=pool.average(),
            rule=rule,
            regime=Regime.ALT if movement.ts < ALT_CUTOFF else Regime.NEU,
        )
        self.warn(
            movement,
            WarningCode.UNMATCHED_TRANSFER,
            f"Deposit of {_qty(quantity)} {coin} into wallet '{movement.wallet}' matches no withdrawal from another "
            f"wallet: treated as an acquisition ({self.assumptions.unmatched_deposit_cost.value}). Import the "
            "sending wallet or label the row (purchase, reward, income, gift).",
            row,
            coin,
        )

    # ----- transfer matching -------------------------------------------------------------------------

    matches: dict[int, Movement]
    effective_ts: dict[int, datetime]

    def match_transfers(self, movements: Sequence[Movement]) -> None:
        """Pair withdrawals with deposits of the same coin in another wallet (hash first, then time)."""
        self.matches = {}
        self.effective_ts = {}
        outs_by_coin: dict[str, list[Movement]] = {}
        ins: list[Movement] = []
        for movement in movements:
            if (
                movement.kind in TRANSFER_OUT_KINDS
                and movement.sent_asset
                and (movement.sent_quantity or ZERO) > 0
                and not movement.received_asset
            ):
                outs_by_coin.setdefault(movement.sent_asset.upper(), []).append(movement)
            elif (
                movement.kind in TRANSFER_IN_KINDS
                and movement.received_asset
                and (movement.received_quantity or ZERO) > 0
                and not movement.sent_asset
            ):
                ins.append(movement)
        if not ins or not outs_by_coin:
            return
        window = timedelta(hours=self.assumptions.transfer_match_window_hours)
        skew = timedelta(hours=1)
        tolerance = self.assumptions.transfer_match_tolerance
        times = {coin: [out.ts for out in outs] for coin, outs in outs_by_coin.items()}
        used: set[int] = set()
        by_hash = {
            (out.tx_hash, out.sent_asset.upper() if out.sent_asset else ""): out
            for outs in outs_by_coin.values()
            for out in outs
            if out.tx_hash
        }
        for deposit in sorted(ins, key=lambda m: (m.ts, m.entry_id)):
            coin = (deposit.received_asset or "").upper()
            quantity = deposit.received_quantity or ZERO
            chosen: Movement | None = None
            if deposit.tx_hash:
                candidate = by_hash.get((deposit.tx_hash, coin))
                if candidate is not None and candidate.entry_id not in used and candidate.wallet != deposit.wallet:
                    chosen = candidate
            if chosen is None and coin in outs_by_coin:
                outs = outs_by_coin[coin]
                start = bisect.bisect_left(times[coin], deposit.ts - window)
                stop = bisect.bisect_right(times[coin], deposit.ts + skew)
                best_distance: timedelta | None = None
                for out in outs[start:stop]:
                    if out.entry_id in used or out.wallet == deposit.wallet:
                        continue
                    leaving = (out.sent_quantity or ZERO) + (
                        out.fee_quantity or ZERO if (out.fee_asset or "").upper() == coin else ZERO
                    )
                    if quantity > leaving + DUST or quantity < (out.sent_quantity or ZERO) * (1 - tolerance):
                        continue
                    distance = abs(deposit.ts - out.ts)
                    if best_distance is None or distance < best_distance:
                        chosen, best_distance = out, distance
            if chosen is not None:
                used.add(chosen.entry_id)
                self.matches[chosen.entry_id] = deposit
                if deposit.ts < chosen.ts:
                    self.effective_ts[deposit.entry_id] = chosen.ts


def _sort_lots(lots: deque[Lot]) -> None:
    if len(lots) > 1 and lots[-1][2] < lots[-2][2]:
        ordered = sorted(lots, key=lambda lot: lot[2])
        lots.clear()
        lots.extend(ordered)


def _split_parts(parts: list[_Part], arriving: Decimal, leaving: Decimal) -> tuple[list[_Part], list[_Part]]:
    """Split parts into the arriving units (taken first) and the fee units."""
    moved: list[_Part] = []
    fee: list[_Part] = []
    remaining = arriving
    for part in parts:
        if remaining >= part.quantity - DUST:
            moved.append(part)
            remaining -= part.quantity
        elif remaining > DUST:
            cost = cost_of_part(part.quantity, part.cost, remaining)
            moved.append(_Part(part.regime, remaining, cost, part.acquired, part.missing))
            fee.append(_Part(part.regime, part.quantity - remaining, part.cost - cost, part.acquired, part.missing))
            remaining = ZERO
        else:
            fee.append(part)
    return moved, fee


def _scale_parts(parts: list[_Part], arriving: Decimal, leaving: Decimal) -> list[_Part]:
    """Scale the quantities to the units that arrive, keeping every part's full cost."""
    if leaving <= 0:
        return []
    factor = arriving / leaving
    return [_Part(part.regime, part.quantity * factor, part.cost, part.acquired, part.missing) for part in parts]


def _qty(quantity: Decimal) -> str:
    text = f"{quantity.normalize():f}" if quantity == quantity.to_integral_value() else f"{quantity:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


CHECKPOINT_EVERY = 512  # as the report's REFREEZE_EVERY


def compute_year(
    movements: Sequence[Movement],
    year: int,
    assumptions: TaxAssumptions,
    *,
    domestic_wallets: Iterable[str] = (),
    entered_kest: Iterable[tuple[str, Decimal]] = (),
    price_of: Callable[[str, datetime], Decimal | None] | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> EngineResult:
    """Run the engine over ``movements`` (any order; all history up to the year's end) for ``year``.

    ``checkpoint()``, if given, is called after every ``CHECKPOINT_EVERY`` movements (the report
    uses it to keep what it built so far out of the collector's full passes).

    ``domestic_wallets`` are wallets at a KESt-withholding provider; ``entered_kest`` are
    (wallet, amount) pairs of KESt the user entered for the year; ``price_of(asset, ts)`` values
    an unmatched deposit that has no EUR value of its own.
    """
    withholding_from = datetime(
        assumptions.withholding_from.year,
        assumptions.withholding_from.month,
        assumptions.withholding_from.day,
        tzinfo=VIENNA,
    ).astimezone(UTC)
    engine = _Engine(year, assumptions, set(domestic_wallets), withholding_from)
    engine.price_of = price_of
    _, year_end = year_bounds(year)
    relevant = [movement for movement in movements if movement.ts < year_end]
    engine.match_transfers(relevant)
    shifted = engine.effective_ts
    if shifted:
        ordered = sorted(relevant, key=lambda m: (shifted.get(m.entry_id, m.ts), m.entry_id))
    else:  # the common case: no deposit booked before its withdrawal
        ordered = sorted(relevant, key=attrgetter("ts", "entry_id"))
    process = engine.process_fast if engine.fast_paths else engine.process
    for start in range(0, len(ordered), CHECKPOINT_EVERY):
        for movement in ordered[start : start + CHECKPOINT_EVERY]:
            process(movement)
        if checkpoint is not None:
            checkpoint()
    for wallet, amount in entered_kest:
        engine.totals.kest_withheld += amount
        engine.wallet_result(wallet).kest_withheld_entered += amount
    if engine.earlier_problems:
        engine.warnings.insert(
            0,
            TaxWarning(
                code=WarningCode.EARLIER_YEARS,
                message=f"{engine.earlier_problems} problem(s) before {year} (negative balances, unmatched transfers, "
                f"missing values) affect this year's cost basis: see the reports of earlier years.",
            ),
        )
    holdings = {
        key: (sum((lot[0] for lot in pool.alt_lots), ZERO), pool.neu_quantity, pool.neu_cost)
        for key, pool in engine.pools.items()
    }
    return EngineResult(
        year=year,
        totals=engine.totals,
        rows=engine.rows,
        warnings=engine.warnings,
        wallets=engine.wallet_results,
        holdings=holdings,
    )
