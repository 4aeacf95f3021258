"""Macro observations: one row per series, observation date and vintage (FRED ``realtime_start``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Quantity, UTCDateTime
from core.timeutil import utc_now


class MacroObservation(Base):
    """One value of one series, as published from ``published_at`` on (a revision is a new vintage row)."""

    __tablename__ = "macro_observations"
    __table_args__ = (Index("ix_macro_observations_series_published", "series_id", "published_at"),)

    series_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    observation_date: Mapped[date] = mapped_column(Date, primary_key=True)
    realtime_start: Mapped[date] = mapped_column(Date, primary_key=True, doc="First day this vintage was current.")
    value: Mapped[Decimal] = mapped_column(Quantity)
    published_at: Mapped[datetime] = mapped_column(
        UTCDateTime,
        doc="When the value was known: the end of its realtime_start day, or when first fetched if earlier.",
    )
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
