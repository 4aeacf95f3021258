"""Stored lab results: one row per walk-forward, search or robustness report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime
from core.timeutil import utc_now


class LabKind(StrEnum):
    SEARCH = "search"  # an optuna parameter search
    WALK_FORWARD = "walk_forward"
    ROBUSTNESS = "robustness"  # the robustness report of one strategy and parameter set


class LabResult(Base):
    """A finished lab analysis: what was asked, the result as JSON and its plain-words verdict."""

    __tablename__ = "lab_results"
    __table_args__ = (Index("ix_lab_results_created", "created_at"), Index("ix_lab_results_strategy", "strategy"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    kind: Mapped[LabKind] = mapped_column(
        Enum(LabKind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    strategy: Mapped[str] = mapped_column(String(60))
    data_label: Mapped[str] = mapped_column(String(200))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id", ondelete="SET NULL"))
    timeframe: Mapped[str] = mapped_column(String(8))
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verdict: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
