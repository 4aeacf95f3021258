"""Tables of market data: instruments, candles and quotes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Quantity, UTCDateTime
from core.market.enums import AssetClass
from core.timeutil import utc_now


class Instrument(Base):
    """A tradable or tracked instrument, e.g. ``BTC/EUR`` or ``AAPL``."""

    __tablename__ = "instruments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), unique=True)
    base: Mapped[str] = mapped_column(String(20))
    quote: Mapped[str] = mapped_column(String(20))
    asset_class: Mapped[AssetClass] = mapped_column(
        Enum(AssetClass, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    name: Mapped[str | None] = mapped_column(String(120))
    exchange_symbol: Mapped[str | None] = mapped_column(String(40))
    coingecko_id: Mapped[str | None] = mapped_column(String(80))
    yahoo_symbol: Mapped[str | None] = mapped_column(String(40))
    default_source: Mapped[str] = mapped_column(String(40), default="ccxt:onetrading")
    tracked: Mapped[bool] = mapped_column(Boolean, default=True)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # The venue's order rules (``core.market.trading_rules``); None = not known, defaults apply.
    tick_size: Mapped[Decimal | None] = mapped_column(Quantity, doc="Price increment (ccxt precision.price).")
    lot_size: Mapped[Decimal | None] = mapped_column(Quantity, doc="Quantity increment (ccxt precision.amount).")
    min_quantity: Mapped[Decimal | None] = mapped_column(Quantity, doc="Smallest order (ccxt limits.amount.min).")
    min_notional: Mapped[Decimal | None] = mapped_column(
        Quantity, doc="Smallest order value in the quote currency (ccxt limits.cost.min)."
    )
    rules_source: Mapped[str | None] = mapped_column(String(60), doc="Where the rules came from, e.g. ccxt:onetrading.")
    rules_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Candle(Base):
    """One OHLCV bar; unique per instrument, source, timeframe and open time (``ts``, UTC).

    On SQLite (and a TimescaleDB hypertable) ``instrument_id`` is a real foreign key. On plain
    PostgreSQL migration ``0003_candle_reference`` enforces the same reference with triggers that
    check once per statement instead of once per row (bulk loads are 3x faster); the behaviour is
    the same: an unknown instrument is refused, deleting an instrument deletes its candles.
    """

    __tablename__ = "candles"

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    open: Mapped[Decimal] = mapped_column(Quantity)
    high: Mapped[Decimal] = mapped_column(Quantity)
    low: Mapped[Decimal] = mapped_column(Quantity)
    close: Mapped[Decimal] = mapped_column(Quantity)
    volume: Mapped[Decimal] = mapped_column(Quantity)


class Quote(Base):
    """A price snapshot (last, bid, ask) from one source."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_instrument_ts", "instrument_id", "ts"),)

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    last: Mapped[Decimal] = mapped_column(Quantity)
    bid: Mapped[Decimal | None] = mapped_column(Quantity)
    ask: Mapped[Decimal | None] = mapped_column(Quantity)
