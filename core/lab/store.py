"""Store and read lab results (table ``lab_results``, revision ``0230_lab``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.backtest.series import PriceSeries
from core.lab.models import LabKind, LabResult


@dataclass(frozen=True)
class StoredLabResult:
    """A stored analysis as the page and the CLI read it."""

    id: int
    created_at: datetime
    kind: LabKind
    strategy: str
    data_label: str
    timeframe: str
    request: dict[str, Any]
    result: dict[str, Any]
    verdict: str
    seconds: float


def save_lab_result(
    session: Session,
    kind: LabKind,
    strategy: str,
    bars: PriceSeries,
    request: dict[str, Any],
    result: dict[str, Any],
    *,
    verdict: str,
    seconds: float,
) -> int:
    """Store one finished analysis; return its id."""
    row = LabResult(
        kind=kind,
        strategy=strategy,
        data_label=bars.label[:200],
        instrument_id=bars.instrument_id,
        timeframe=bars.timeframe,
        request=request,
        result=result,
        verdict=verdict,
        seconds=seconds,
    )
    session.add(row)
    session.flush()
    return int(row.id)


def _view(row: LabResult) -> StoredLabResult:
    return StoredLabResult(
        row.id,
        row.created_at,
        row.kind,
        row.strategy,
        row.data_label,
        row.timeframe,
        dict(row.request),
        dict(row.result),
        row.verdict,
        row.seconds,
    )


def list_lab_results(
    session: Session, *, strategy: str | None = None, kind: LabKind | None = None, limit: int = 50
) -> list[StoredLabResult]:
    """The newest stored analyses first (optionally of one strategy or kind)."""
    query = select(LabResult).order_by(LabResult.created_at.desc(), LabResult.id.desc()).limit(limit)
    if strategy is not None:
        query = query.where(LabResult.strategy == strategy)
    if kind is not None:
        query = query.where(LabResult.kind == kind)
    return [_view(row) for row in session.scalars(query)]


def load_lab_result(session: Session, result_id: int) -> StoredLabResult | None:
    row = session.get(LabResult, result_id)
    return _view(row) if row is not None else None
