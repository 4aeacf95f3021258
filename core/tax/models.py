"""Tables of the tax report: wallet metadata (domestic or foreign provider) and user-entered KESt."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, UTCDateTime
from core.timeutil import utc_now


class TaxWallet(Base):
    """What the tax report must know about a wallet (a ledger ``account``) beyond its movements."""

    __tablename__ = "tax_wallets"

    wallet: Mapped[str] = mapped_column(String(80), primary_key=True)
    domestic: Mapped[bool] = mapped_column(Boolean, doc="Held at an Austrian provider that withholds KESt.")
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class TaxKestEntry(Base):
    """KESt withheld by a provider in a year, as entered by the user (e.g. from the provider's tax report)."""

    __tablename__ = "tax_kest_entries"
    __table_args__ = (Index("ix_tax_kest_entries_year", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    wallet: Mapped[str] = mapped_column(String(80))
    amount_eur: Mapped[Decimal] = mapped_column(Money)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
