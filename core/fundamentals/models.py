"""The fundamentals table: one row per instrument, source and provider time (never written twice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class FundamentalsSource(StrEnum):
    COINGECKO = "coingecko"
    YAHOO = "yahoo"
    DEMO = "demo"  # computed from the demo market by the demo seed (``core.fundamentals.demo_data``)


@dataclass(frozen=True)
class FundamentalsRecord:
    """What one provider answered for one asset (``core.fundamentals.sources``), before it is stored.

    Here, not beside the adapters, so that reading fundamentals (the Charts page) imports neither
    yfinance nor pycoingecko.
    """

    source: FundamentalsSource
    provider_id: str
    as_of: datetime
    metrics: dict[str, Any]


class AssetFundamentals(Base):
    """What a provider said about an asset at ``as_of`` (its own update time), fetched at ``fetched_at``."""

    __tablename__ = "asset_fundamentals"
    __table_args__ = (
        UniqueConstraint("instrument_id", "source", "as_of", name="uq_asset_fundamentals_instrument_source_as_of"),
        Index("ix_asset_fundamentals_instrument_fetched", "instrument_id", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    source: Mapped[FundamentalsSource] = mapped_column(
        Enum(FundamentalsSource, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    provider_id: Mapped[str] = mapped_column(String(80), doc="CoinGecko coin id or Yahoo symbol.")
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, doc="The provider's update time of these values.")
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, doc="Normalised metrics; money as decimal strings.")
