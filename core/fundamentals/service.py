"""Collect and read fundamentals: daily per tracked instrument, stored with the provider's time.

Crypto with a CoinGecko id goes to CoinGecko; stocks and ETFs to Yahoo. A provider answer whose
update time is already stored is not written again; an instrument fetched less than
``max_age`` ago is skipped, so the research worker can run hourly and still ask once a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.engine import Database
from core.fundamentals.models import AssetFundamentals, FundamentalsRecord, FundamentalsSource
from core.logging_setup import redact
from core.market.models import AssetClass, Instrument
from core.market.query import tracked_instruments
from core.market.sources.base import InstrumentRef, MarketDataError
from core.timeutil import utc_now

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(hours=20)


class FundamentalsProvider(Protocol):
    source: FundamentalsSource

    def fetch(self, instrument: InstrumentRef) -> FundamentalsRecord: ...


@dataclass
class FundamentalsReport:
    stored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FundamentalsView:
    instrument_id: int
    source: FundamentalsSource
    provider_id: str
    as_of: datetime
    fetched_at: datetime
    metrics: dict[str, Any]


def source_for(instrument: Instrument) -> FundamentalsSource | None:
    """Return the provider to ask for an instrument's fundamentals (None: none knows it, e.g. fiat or demo instruments).

    Demo instruments get theirs from the demo seed (``core.fundamentals.demo_data``), never from a provider.
    """
    if instrument.default_source == "demo":
        return None  # synthetic instruments: no provider knows them
    if instrument.asset_class is AssetClass.CRYPTO:
        return FundamentalsSource.COINGECKO if instrument.coingecko_id else None
    if instrument.asset_class in (AssetClass.STOCK, AssetClass.ETF):
        return FundamentalsSource.YAHOO
    return None


def store_fundamentals(
    session: Session, *, instrument_id: int, record: FundamentalsRecord, fetched_at: datetime
) -> bool:
    """Store ``record`` unless the same provider time is stored already; return whether a row was added."""
    existing = session.scalar(
        select(AssetFundamentals.id).where(
            AssetFundamentals.instrument_id == instrument_id,
            AssetFundamentals.source == record.source,
            AssetFundamentals.as_of == record.as_of,
        )
    )
    if existing is not None:
        return False
    session.add(
        AssetFundamentals(
            instrument_id=instrument_id,
            source=record.source,
            provider_id=record.provider_id,
            as_of=record.as_of,
            fetched_at=fetched_at,
            metrics=record.metrics,
        )
    )
    session.flush()
    return True


def _last_fetched(session: Session, instrument_id: int) -> datetime | None:
    return session.scalar(
        select(AssetFundamentals.fetched_at)
        .where(AssetFundamentals.instrument_id == instrument_id)
        .order_by(AssetFundamentals.fetched_at.desc())
        .limit(1)
    )


def collect_fundamentals(
    database: Database,
    providers: dict[FundamentalsSource, FundamentalsProvider],
    *,
    now: datetime | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> FundamentalsReport:
    """Fetch and store the fundamentals of every tracked instrument that is due; one failure stops no other."""
    moment = now or utc_now()
    report = FundamentalsReport()
    plan = database.run(
        lambda session: [
            (
                item.id,
                item.symbol,
                source_for(item),
                InstrumentRef.from_instrument(item),
                _last_fetched(session, item.id),
            )
            for item in tracked_instruments(session)
        ]
    )
    for instrument_id, symbol, source, ref, last in plan:
        provider = providers.get(source) if source is not None else None
        if provider is None or (last is not None and moment - last < max_age):
            report.skipped.append(symbol)
            continue
        try:
            record = provider.fetch(ref)
        except MarketDataError as error:
            message = redact(str(error))[:300]
            logger.warning("Fundamentals of %s from %s failed: %s", symbol, provider.source.value, message)
            report.failed[symbol] = message
            continue
        if record.as_of > moment:
            record = FundamentalsRecord(record.source, record.provider_id, moment, record.metrics)
        added = database.run(partial(store_fundamentals, instrument_id=instrument_id, record=record, fetched_at=moment))
        (report.stored if added else report.unchanged).append(symbol)
    return report


def latest_fundamentals(
    session: Session, instrument_id: int, *, as_of: datetime | None = None
) -> FundamentalsView | None:
    """Return the newest fundamentals known at ``as_of`` (provider time and fetch time both not later)."""
    query = select(AssetFundamentals).where(AssetFundamentals.instrument_id == instrument_id)
    if as_of is not None:
        query = query.where(AssetFundamentals.as_of <= as_of, AssetFundamentals.fetched_at <= as_of)
    row = session.scalar(query.order_by(AssetFundamentals.as_of.desc(), AssetFundamentals.id.desc()).limit(1))
    if row is None:
        return None
    return FundamentalsView(
        row.instrument_id, row.source, row.provider_id, row.as_of, row.fetched_at, dict(row.metrics)
    )
