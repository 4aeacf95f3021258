"""Equity and exposure of an account, from the ledger, positions, snapshots and latest prices.

Money is Decimal throughout. Cash is the EUR balance of the ledger (received − sent − fees);
a position is valued at the newest known price of its instrument (quote or candle close, as the
executor sees it); equity is cash plus the
value of the positions. Exposure counts the absolute value of every position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.execution.accounting import asset_balance
from core.execution.prices import latest_price
from core.market.models import Instrument
from core.portfolio.models import LedgerEntry, PortfolioSnapshot, Position

VIENNA = ZoneInfo("Europe/Vienna")
ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class PositionExposure:
    """One open position valued at the latest price."""

    instrument_id: int
    symbol: str
    asset_class: str
    quantity: Decimal
    price_eur: Decimal | None  # None when no price was ever collected
    value_eur: Decimal  # signed: negative for a short

    @property
    def exposure_eur(self) -> Decimal:
        return abs(self.value_eur)


@dataclass(frozen=True)
class AccountExposure:
    """Cash, positions and equity of one account now."""

    account: str
    cash_eur: Decimal
    positions: tuple[PositionExposure, ...]

    @property
    def positions_value_eur(self) -> Decimal:
        return sum((position.value_eur for position in self.positions), ZERO)

    @property
    def gross_exposure_eur(self) -> Decimal:
        return sum((position.exposure_eur for position in self.positions), ZERO)

    @property
    def equity_eur(self) -> Decimal:
        return self.cash_eur + self.positions_value_eur

    def exposure_of(self, instrument_id: int) -> Decimal:
        """Return the absolute value of the position in one instrument (0 without one)."""
        return sum(
            (position.exposure_eur for position in self.positions if position.instrument_id == instrument_id), ZERO
        )

    def position_of(self, instrument_id: int) -> PositionExposure | None:
        return next((position for position in self.positions if position.instrument_id == instrument_id), None)


def cash_balance_eur(session: Session, account: str) -> Decimal:
    """Return the EUR balance of ``account`` from its ledger."""
    return asset_balance(session, account, "EUR").quantize(CENT)


def account_exposure(session: Session, account: str) -> AccountExposure:
    """Return cash, open positions at the latest prices, and equity of ``account``."""
    rows = session.execute(
        select(Position, Instrument)
        .join(Instrument, Instrument.id == Position.instrument_id)
        .where(Position.account == account, Position.quantity != 0)
        .order_by(Instrument.symbol)
    ).all()
    positions = []
    for position, instrument in rows:
        latest = latest_price(session, instrument.id)  # the price the executor sees (quote or candle)
        price = latest.price if latest is not None else None
        # Cents: SQLite keeps numerics as binary floats, so products carry noise below a cent.
        value = (position.quantity * (price if price is not None else position.average_price_eur)).quantize(CENT)
        positions.append(
            PositionExposure(
                instrument_id=instrument.id,
                symbol=instrument.symbol,
                asset_class=instrument.asset_class.value,
                quantity=position.quantity,
                price_eur=price,
                value_eur=value,
            )
        )
    return AccountExposure(account=account, cash_eur=cash_balance_eur(session, account), positions=tuple(positions))


def start_of_day(now: datetime) -> datetime:
    """Return the start of the Vienna calendar day containing ``now``, as UTC."""
    local = now.astimezone(VIENNA)
    midnight = datetime.combine(local.date(), time.min, tzinfo=VIENNA)
    return midnight.astimezone(now.tzinfo)


def next_day_start(now: datetime) -> datetime:
    """Return the start of the next Vienna calendar day after ``now``, as UTC."""
    local = now.astimezone(VIENNA)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=VIENNA)
    return midnight.astimezone(now.tzinfo)


def equity_before(session: Session, account: str, when: datetime) -> Decimal | None:
    """Return the equity of the last snapshot taken before ``when``, or None.

    A snapshot is keyed by the start of its hour but holds the equity of the hour's last pass, so
    the one keyed exactly ``when`` may hold values from after ``when``: only earlier keys count.
    """
    return session.scalar(
        select(PortfolioSnapshot.equity_eur)
        .where(PortfolioSnapshot.account == account, PortfolioSnapshot.ts < when)
        .order_by(PortfolioSnapshot.ts.desc())
        .limit(1)
    )


def peak_equity(session: Session, account: str, since: datetime | None = None) -> Decimal | None:
    """Return the highest snapshot equity of ``account`` (since ``since``), or None."""
    query = select(func.max(PortfolioSnapshot.equity_eur)).where(PortfolioSnapshot.account == account)
    if since is not None:
        query = query.where(PortfolioSnapshot.ts >= since)
    value = session.scalar(query)
    return None if value is None else Decimal(str(value))


def equity_curve(session: Session, account: str) -> list[tuple[datetime, Decimal]]:
    """Return the snapshots of ``account`` as (time, equity), oldest first."""
    rows = session.execute(
        select(PortfolioSnapshot.ts, PortfolioSnapshot.equity_eur)
        .where(PortfolioSnapshot.account == account)
        .order_by(PortfolioSnapshot.ts)
    )
    return [(ts, equity) for ts, equity in rows]


def known_accounts(session: Session) -> list[str]:
    """Return every account that has ledger entries, positions or snapshots."""
    names: set[str] = set(session.scalars(select(LedgerEntry.account).distinct()))
    names.update(session.scalars(select(Position.account).distinct()))
    names.update(session.scalars(select(PortfolioSnapshot.account).distinct()))
    return sorted(names)
