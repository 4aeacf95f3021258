"""Tax settings kept in the database: wallet metadata (domestic or foreign) and user-entered KESt."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.tax.models import TaxKestEntry, TaxWallet
from core.timeutil import utc_now


def set_wallet_domestic(session: Session, wallet: str, *, domestic: bool, note: str | None = None) -> None:
    """Record whether ``wallet`` is held at a domestic (KESt-withholding) provider."""
    wallet = wallet.strip()
    if not wallet or len(wallet) > 80:
        raise ValueError("the wallet name must be 1 to 80 characters")
    row = session.get(TaxWallet, wallet)
    if row is None:
        session.add(TaxWallet(wallet=wallet, domestic=domestic, note=note, updated_at=utc_now()))
    else:
        row.domestic = domestic
        if note is not None:
            row.note = note
        row.updated_at = utc_now()


def forget_wallet_setting(session: Session, wallet: str) -> None:
    """Remove a wallet's setting (the default rule applies again)."""
    session.execute(delete(TaxWallet).where(TaxWallet.wallet == wallet))


def add_kest_entry(session: Session, *, year: int, wallet: str, amount_eur: Decimal, note: str | None = None) -> int:
    """Store KESt withheld by a provider in ``year``; return the entry id."""
    if not amount_eur.is_finite() or amount_eur < 0:
        raise ValueError("the KESt amount must be a finite amount of at least 0")
    if not 2009 <= year <= 2100:
        raise ValueError("the year is out of range")
    entry = TaxKestEntry(year=year, wallet=wallet.strip(), amount_eur=amount_eur, note=note, created_at=utc_now())
    session.add(entry)
    session.flush()
    return entry.id


def kest_entries(session: Session, year: int | None = None) -> list[TaxKestEntry]:
    """Return the user-entered KESt entries (of one year, or all), newest year first."""
    query = select(TaxKestEntry).order_by(TaxKestEntry.year.desc(), TaxKestEntry.id)
    if year is not None:
        query = query.where(TaxKestEntry.year == year)
    return list(session.scalars(query))


def delete_kest_entry(session: Session, entry_id: int) -> None:
    """Delete one user-entered KESt entry."""
    session.execute(delete(TaxKestEntry).where(TaxKestEntry.id == entry_id))
