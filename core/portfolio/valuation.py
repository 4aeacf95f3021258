"""Value the accounts from the ledger: holdings, cash, market value, realised and unrealised P&L.

The ledger is the single source. Each account's entries are replayed in time order at average
cost per asset (fees paid in EUR are part of the cost on a purchase and reduce the proceeds on a
disposal; a fee paid in an asset removes that quantity at its average cost, a realised cost).
Market prices are the newest candle close of the asset's EUR instrument. Every amount is a
``Decimal``; money results are rounded to cents.

Accounts are every account in ``ledger_entries`` and in ``positions``; an account that has
positions but no ledger entries (e.g. filled in by an external sync) is valued from its positions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from core.market.models import Instrument
from core.market.series import latest_prices
from core.portfolio.models import LedgerEntry, LedgerKind, PortfolioSnapshot, Position
from core.portfolio.position_math import cost_of_part
from core.timeutil import ensure_utc
from core.values import round_eur

logger = logging.getLogger(__name__)

CASH_ASSET = "EUR"
ZERO = Decimal(0)
CENT = Decimal("0.01")
DUST = Decimal("0.000000001")  # balances smaller than this count as zero

# Movements that take an asset out of the account without selling it: its cost leaves with it.
_MOVED_OUT = frozenset({LedgerKind.WITHDRAWAL, LedgerKind.TRANSFER_OUT, LedgerKind.GIFT_OUT})
# Acquisitions at zero cost (the value is income, not a purchase).
_ZERO_COST_IN = frozenset({LedgerKind.REWARD, LedgerKind.AIRDROP, LedgerKind.FORK})


def money(value: Decimal) -> Decimal:
    """Round an EUR amount to cents, half-up: the one money rule (``core.values.round_eur``)."""
    return round_eur(value)


@dataclass
class _Lot:
    """Average-cost state of one asset in one account during the replay."""

    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    instrument_id: int | None = None
    first_ts: datetime | None = None

    def remove(self, quantity: Decimal) -> Decimal:
        """Take ``quantity`` out at average cost; return the cost that left."""
        if self.quantity <= 0:
            self.quantity -= quantity
            return ZERO
        taken = min(quantity, self.quantity)
        removed_cost = cost_of_part(self.quantity, self.cost, taken)
        self.quantity -= quantity
        self.cost -= removed_cost
        if self.quantity <= DUST:
            self.cost = ZERO
        return removed_cost


@dataclass(frozen=True)
class Holding:
    """One open position of an account, valued in EUR."""

    account: str
    asset: str
    instrument_id: int | None
    symbol: str
    name: str
    asset_class: str
    quantity: Decimal
    average_cost_eur: Decimal
    cost_basis_eur: Decimal
    price_eur: Decimal | None
    price_time: datetime | None
    market_value_eur: Decimal | None
    unrealised_pnl_eur: Decimal | None
    realised_pnl_eur: Decimal
    opened_at: datetime | None

    @property
    def unrealised_return(self) -> Decimal | None:
        """Unrealised P&L as a fraction of the cost basis."""
        if self.unrealised_pnl_eur is None or not self.cost_basis_eur:
            return None
        return self.unrealised_pnl_eur / self.cost_basis_eur


@dataclass(frozen=True)
class ClosedPosition:
    """An asset an account no longer holds, with the P&L it realised."""

    account: str
    asset: str
    symbol: str
    realised_pnl_eur: Decimal


@dataclass(frozen=True)
class AccountValuation:
    """One account: cash, holdings and P&L in EUR."""

    account: str
    cash_eur: Decimal
    holdings: list[Holding]
    closed: list[ClosedPosition]
    realised_pnl_eur: Decimal
    fees_eur: Decimal
    net_deposits_eur: Decimal
    unpriced_assets: list[str] = field(default_factory=list)

    @property
    def market_value_eur(self) -> Decimal:
        return sum((h.market_value_eur for h in self.holdings if h.market_value_eur is not None), ZERO)

    @property
    def unrealised_pnl_eur(self) -> Decimal:
        return sum((h.unrealised_pnl_eur for h in self.holdings if h.unrealised_pnl_eur is not None), ZERO)

    @property
    def equity_eur(self) -> Decimal:
        return self.cash_eur + self.market_value_eur


@dataclass(frozen=True)
class AllocationSlice:
    """A share of total equity: one asset (all accounts together) or cash."""

    label: str
    value_eur: Decimal
    fraction: Decimal


@dataclass(frozen=True)
class PortfolioValuation:
    """All accounts together."""

    accounts: list[AccountValuation]
    valued_at: datetime | None

    @property
    def holdings(self) -> list[Holding]:
        return [holding for account in self.accounts for holding in account.holdings]

    @property
    def cash_eur(self) -> Decimal:
        return sum((account.cash_eur for account in self.accounts), ZERO)

    @property
    def market_value_eur(self) -> Decimal:
        return sum((account.market_value_eur for account in self.accounts), ZERO)

    @property
    def equity_eur(self) -> Decimal:
        return self.cash_eur + self.market_value_eur

    @property
    def realised_pnl_eur(self) -> Decimal:
        return sum((account.realised_pnl_eur for account in self.accounts), ZERO)

    @property
    def unrealised_pnl_eur(self) -> Decimal:
        return sum((account.unrealised_pnl_eur for account in self.accounts), ZERO)

    @property
    def net_deposits_eur(self) -> Decimal:
        return sum((account.net_deposits_eur for account in self.accounts), ZERO)

    @property
    def cost_basis_eur(self) -> Decimal:
        return sum((holding.cost_basis_eur for holding in self.holdings), ZERO)

    @property
    def total_return(self) -> Decimal | None:
        """Equity against net deposits, as a fraction (None without deposits)."""
        deposits = self.net_deposits_eur
        return (self.equity_eur - deposits) / deposits if deposits > 0 else None

    @property
    def unrealised_return(self) -> Decimal | None:
        """Unrealised P&L as a fraction of the open cost basis."""
        cost = self.cost_basis_eur
        return self.unrealised_pnl_eur / cost if cost > 0 else None

    @property
    def allocation(self) -> list[AllocationSlice]:
        """Return equity split by asset (summed over accounts) plus cash, largest first."""
        by_asset: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for holding in self.holdings:
            if holding.market_value_eur is not None and holding.market_value_eur > 0:
                by_asset[holding.symbol] += holding.market_value_eur
        if self.cash_eur > 0:
            by_asset["Cash (EUR)"] += self.cash_eur
        total = sum(by_asset.values(), ZERO)
        slices = [
            AllocationSlice(label, value, (value / total) if total else ZERO) for label, value in by_asset.items()
        ]
        return sorted(slices, key=lambda item: item.value_eur, reverse=True)

    def account(self, name: str) -> AccountValuation | None:
        """Return the valuation of one account, or None."""
        return next((account for account in self.accounts if account.account == name), None)


def portfolio_accounts(session: Session) -> list[str]:
    """Return every account that has ledger entries or positions, sorted."""
    ledger = set(session.scalars(select(LedgerEntry.account).distinct()))
    positions = set(session.scalars(select(Position.account).distinct()))
    return sorted(ledger | positions)


def as_decimal(value: Any) -> Decimal | None:
    """Return a raw numeric database value as ``Decimal`` (SQLite REAL via its shortest repr)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def as_utc(value: Any) -> datetime:
    """Return a raw timestamp (aware datetime, or SQLite's naive UTC text) as aware UTC."""
    if isinstance(value, datetime):
        return ensure_utc(value)
    return ensure_utc(datetime.fromisoformat(str(value)))


def _raw(column: Any) -> Any:
    """The column without SQLAlchemy's per-row type processing (converted once, in bulk, below)."""
    return type_coerce(column, NullType())


def _ledger_rows(session: Session, accounts: list[str] | None, until: datetime | None) -> Iterator[tuple]:
    query = select(
        LedgerEntry.account,
        _raw(LedgerEntry.ts),
        _raw(LedgerEntry.kind),
        LedgerEntry.sent_asset,
        _raw(LedgerEntry.sent_quantity),
        LedgerEntry.received_asset,
        _raw(LedgerEntry.received_quantity),
        LedgerEntry.fee_asset,
        _raw(LedgerEntry.fee_quantity),
        _raw(LedgerEntry.value_eur),
        LedgerEntry.instrument_id,
    )
    if accounts is not None:
        query = query.where(LedgerEntry.account.in_(accounts))
    if until is not None:
        query = query.where(LedgerEntry.ts <= until)
    for (
        account,
        ts,
        kind,
        sent_asset,
        sent_qty,
        received_asset,
        received_qty,
        fee_asset,
        fee_qty,
        value_eur,
        instrument_id,
    ) in session.connection().execute(query.order_by(LedgerEntry.account, LedgerEntry.ts, LedgerEntry.id)):
        yield (
            account,
            ts,
            kind,
            sent_asset,
            as_decimal(sent_qty),
            received_asset,
            as_decimal(received_qty),
            fee_asset,
            as_decimal(fee_qty),
            as_decimal(value_eur),
            instrument_id,
        )


@dataclass
class _AccountReplay:
    cash: Decimal = ZERO
    net_deposits: Decimal = ZERO
    unattributed_fees: Decimal = ZERO
    lots: dict[str, _Lot] = field(default_factory=lambda: defaultdict(_Lot))


def _replay(rows: Iterable[tuple]) -> dict[str, _AccountReplay]:
    """Replay ledger rows (ordered by account, time) into cash and average-cost lots."""
    replays: dict[str, _AccountReplay] = defaultdict(_AccountReplay)
    for (
        account,
        ts,
        kind,
        sent_asset,
        sent_qty,
        received_asset,
        received_qty,
        fee_asset,
        fee_qty,
        value_eur,
        instrument_id,
    ) in rows:
        state = replays[account]
        kind = LedgerKind(kind)
        sent_qty = sent_qty or ZERO
        received_qty = received_qty or ZERO
        fee_qty = fee_qty or ZERO
        fee_eur = fee_qty if fee_asset == CASH_ASSET else ZERO
        fee_attributed = False
        # cash
        if received_asset == CASH_ASSET:
            state.cash += received_qty
            if kind in (LedgerKind.DEPOSIT, LedgerKind.TRANSFER_IN, LedgerKind.GIFT_IN):
                state.net_deposits += received_qty
        if sent_asset == CASH_ASSET:
            state.cash -= sent_qty
            if kind in (LedgerKind.WITHDRAWAL, LedgerKind.TRANSFER_OUT, LedgerKind.GIFT_OUT):
                state.net_deposits -= sent_qty
        state.cash -= fee_eur
        # disposal of an asset
        if sent_asset and sent_asset != CASH_ASSET and sent_qty:
            lot = state.lots[sent_asset]
            removed_cost = lot.remove(sent_qty)
            if kind is LedgerKind.LOSS:
                lot.realised -= removed_cost
            elif kind not in _MOVED_OUT:
                if received_asset == CASH_ASSET:
                    proceeds = received_qty
                else:
                    proceeds = value_eur if value_eur is not None else ZERO
                lot.realised += proceeds - removed_cost - fee_eur
                lot.fees += fee_eur
                fee_attributed = True
        # acquisition of an asset
        if received_asset and received_asset != CASH_ASSET and received_qty:
            lot = state.lots[received_asset]
            if sent_asset == CASH_ASSET:
                cost_in = sent_qty
            elif kind in _ZERO_COST_IN:
                cost_in = ZERO
            else:
                cost_in = value_eur if value_eur is not None else ZERO
            if not fee_attributed:
                cost_in += fee_eur
                lot.fees += fee_eur
                fee_attributed = True
            lot.quantity += received_qty
            lot.cost += cost_in
            if lot.first_ts is None or lot.quantity == received_qty:
                lot.first_ts = as_utc(ts)
            if instrument_id is not None:
                lot.instrument_id = instrument_id
        # a fee paid in an asset: that quantity leaves at its average cost
        if fee_asset and fee_asset != CASH_ASSET and fee_qty:
            lot = state.lots[fee_asset]
            fee_cost = lot.remove(fee_qty)
            lot.realised -= fee_cost
            lot.fees += fee_cost
        if fee_eur and not fee_attributed:
            state.unattributed_fees += fee_eur
    return replays


@dataclass(frozen=True)
class _PricedInstrument:
    instrument_id: int
    symbol: str
    name: str
    asset_class: str
    quote: str


def _instrument_for_assets(session: Session, assets: set[str]) -> dict[str, _PricedInstrument]:
    """Map each asset to the instrument that prices it (its EUR pair first)."""
    found: dict[str, _PricedInstrument] = {}
    if not assets:
        return found
    rows = session.execute(
        select(
            Instrument.id, Instrument.symbol, Instrument.name, Instrument.asset_class, Instrument.base, Instrument.quote
        ).where(Instrument.base.in_(sorted(assets)))
    ).all()
    for instrument_id, symbol, name, asset_class, base, quote in sorted(rows, key=lambda r: (r[5] != "EUR", r[1])):
        found.setdefault(
            base, _PricedInstrument(instrument_id, symbol, name or symbol, str(asset_class.value), str(quote))
        )
    return found


# Replays of the ledger, reused while the ledger has not grown (it is append-only) for at most
# REPLAY_CACHE_SECONDS; prices are applied fresh on every call.
REPLAY_CACHE_SECONDS = 60.0
_REPLAY_CACHE_SIZE = 16
_replay_cache: dict[tuple[str, tuple[str, ...]], tuple[tuple[Any, ...], float, dict[str, _AccountReplay]]] = {}
_replay_cache_lock = threading.Lock()


def _ledger_fingerprint(session: Session, accounts: list[str]) -> tuple[Any, ...]:
    row = session.execute(
        select(func.count(), func.max(LedgerEntry.id), func.max(_raw(LedgerEntry.created_at))).where(
            LedgerEntry.account.in_(accounts)
        )
    ).one()
    return tuple(row)


def _cached_replay(session: Session, accounts: list[str]) -> dict[str, _AccountReplay]:
    key = (str(session.connection().engine.url), tuple(accounts))
    fingerprint = _ledger_fingerprint(session, accounts)
    now = time.monotonic()
    with _replay_cache_lock:
        cached = _replay_cache.get(key)
        if cached is not None and cached[0] == fingerprint and now - cached[1] < REPLAY_CACHE_SECONDS:
            return dict(cached[2])
    replays = dict(_replay(_ledger_rows(session, accounts, None)))
    with _replay_cache_lock:
        if len(_replay_cache) >= _REPLAY_CACHE_SIZE:
            _replay_cache.pop(next(iter(_replay_cache)))
        _replay_cache[key] = (fingerprint, now, replays)
    return dict(replays)


def value_portfolio(session: Session, accounts: list[str] | None = None) -> PortfolioValuation:
    """Value every account (or the given ones) at the newest prices in the database."""
    accounts = accounts if accounts is not None else portfolio_accounts(session)
    replays = _cached_replay(session, accounts)
    position_only = [account for account in accounts if account not in replays]
    positions = _positions_as_replays(session, position_only)
    replays.update(positions)
    assets = {asset for replay in replays.values() for asset in replay.lots}
    instruments = _instrument_for_assets(session, assets)
    quotes = {item.quote for item in instruments.values() if item.quote != CASH_ASSET}
    quote_instruments = _instrument_for_assets(session, quotes)
    ids = [item.instrument_id for item in instruments.values()] + [
        item.instrument_id for item in quote_instruments.values() if item.quote == CASH_ASSET
    ]
    prices = latest_prices(session, ids)

    def eur_price(asset: str) -> tuple[Decimal, datetime] | None:
        instrument = instruments.get(asset)
        if instrument is None or instrument.instrument_id not in prices:
            return None
        when, price = prices[instrument.instrument_id]
        if instrument.quote != CASH_ASSET:
            converter = quote_instruments.get(instrument.quote)
            if converter is None or converter.quote != CASH_ASSET or converter.instrument_id not in prices:
                return None
            price = price * prices[converter.instrument_id][1]
        return price, when

    valued_at = max((when for when, _price in prices.values()), default=None)
    results = [
        _account_valuation(account, replays.get(account, _AccountReplay()), instruments, eur_price)
        for account in accounts
    ]
    return PortfolioValuation(accounts=results, valued_at=valued_at)


def _account_valuation(
    account: str,
    replay: _AccountReplay,
    instruments: dict[str, _PricedInstrument],
    eur_price: Callable[[str], tuple[Decimal, datetime] | None],
) -> AccountValuation:
    holdings: list[Holding] = []
    closed: list[ClosedPosition] = []
    unpriced: list[str] = []
    realised_total = -replay.unattributed_fees
    fees_total = replay.unattributed_fees
    for asset, lot in sorted(replay.lots.items()):
        realised_total += lot.realised
        fees_total += lot.fees
        instrument = instruments.get(asset)
        symbol = instrument.symbol if instrument else asset
        if abs(lot.quantity) <= DUST:
            if lot.realised:
                closed.append(ClosedPosition(account, asset, symbol, money(lot.realised)))
            continue
        priced = eur_price(asset)
        cost_basis = money(lot.cost)
        if priced is None:
            unpriced.append(asset)
            price = when = market_value = unrealised = None
        else:
            price, when = priced
            market_value = money(lot.quantity * price)
            unrealised = market_value - cost_basis
        holdings.append(
            Holding(
                account=account,
                asset=asset,
                instrument_id=instrument.instrument_id if instrument else lot.instrument_id,
                symbol=symbol,
                name=instrument.name if instrument else asset,
                asset_class=instrument.asset_class if instrument else "unknown",
                quantity=lot.quantity,
                average_cost_eur=lot.cost / lot.quantity if lot.quantity > 0 else ZERO,
                cost_basis_eur=cost_basis,
                price_eur=price,
                price_time=when,
                market_value_eur=market_value,
                unrealised_pnl_eur=unrealised,
                realised_pnl_eur=money(lot.realised),
                opened_at=lot.first_ts,
            )
        )
    holdings.sort(key=lambda h: h.market_value_eur or ZERO, reverse=True)
    if unpriced:
        logger.info("Account %s: no EUR price for %s", account, ", ".join(unpriced))
    return AccountValuation(
        account=account,
        cash_eur=money(replay.cash),
        holdings=holdings,
        closed=closed,
        realised_pnl_eur=money(realised_total),
        fees_eur=money(fees_total),
        net_deposits_eur=money(replay.net_deposits),
        unpriced_assets=unpriced,
    )


def _positions_as_replays(session: Session, accounts: list[str]) -> dict[str, _AccountReplay]:
    """Turn cached positions of accounts without ledger entries into replay state (no cash known)."""
    replays: dict[str, _AccountReplay] = {}
    if not accounts:
        return replays
    rows = session.execute(
        select(Position, Instrument.base)
        .join(Instrument, Instrument.id == Position.instrument_id)
        .where(Position.account.in_(accounts))
    ).all()
    for position, base in rows:
        replay = replays.setdefault(position.account, _AccountReplay())
        lot = replay.lots[base]
        lot.quantity += position.quantity
        lot.cost += position.quantity * position.average_price_eur
        lot.realised += position.realised_pnl_eur
        lot.instrument_id = position.instrument_id
        lot.first_ts = position.opened_at
    return replays


@dataclass(frozen=True)
class EquityPoint:
    """One point of an equity curve (all accounts asked for, summed)."""

    ts: datetime
    equity_eur: Decimal
    cash_eur: Decimal
    positions_value_eur: Decimal


def equity_curve(
    session: Session,
    accounts: list[str] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    max_points: int | None = None,
) -> list[EquityPoint]:
    """Return the equity curve from ``portfolio_snapshots``, accounts summed at each snapshot time.

    With several accounts, an account without a snapshot at a time counts with its last one.
    ``max_points`` thins a long curve for display: the span is cut into that many equal
    intervals and the last point of each is kept (the newest point is always kept).
    """
    query = select(
        PortfolioSnapshot.account,
        _raw(PortfolioSnapshot.ts),
        _raw(PortfolioSnapshot.equity_eur),
        _raw(PortfolioSnapshot.cash_eur),
        _raw(PortfolioSnapshot.positions_value_eur),
    )
    if accounts is not None:
        query = query.where(PortfolioSnapshot.account.in_(accounts))
    if start is not None:
        query = query.where(PortfolioSnapshot.ts >= start)
    if end is not None:
        query = query.where(PortfolioSnapshot.ts < end)
    rows = session.connection().execute(query.order_by(PortfolioSnapshot.ts, PortfolioSnapshot.account)).all()
    latest: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    points: list[EquityPoint] = []
    for index, (account, raw_ts, equity, cash, positions_value) in enumerate(rows):
        ts = as_utc(raw_ts)
        latest[account] = (as_decimal(equity) or ZERO, as_decimal(cash) or ZERO, as_decimal(positions_value) or ZERO)
        if index + 1 < len(rows) and rows[index + 1][1] == raw_ts:
            continue  # more accounts at this same time
        points.append(
            EquityPoint(
                ts=ts,
                equity_eur=sum((value[0] for value in latest.values()), ZERO),
                cash_eur=sum((value[1] for value in latest.values()), ZERO),
                positions_value_eur=sum((value[2] for value in latest.values()), ZERO),
            )
        )
    if max_points is not None and len(points) > max_points > 1:
        return _thin(points, max_points)
    return points


def _thin(points: list[EquityPoint], max_points: int) -> list[EquityPoint]:
    first, last = points[0].ts, points[-1].ts
    width = (last - first) / max_points
    kept: list[EquityPoint] = []
    bucket = None
    for point in points:
        current = min(int((point.ts - first) / width), max_points - 1) if width else 0
        if kept and current == bucket:
            kept[-1] = point
        else:
            kept.append(point)
            bucket = current
    return kept
