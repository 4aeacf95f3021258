"""Tables of stored backtests: one row per run (or sweep) and its trades.

The store writes them through the Core tables of :mod:`core.backtest.run_rows` (kept equal to these by a test).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.backtest.run_rows import BacktestKind, value_enum
from core.db.base import Base, Money, Quantity, UTCDateTime
from core.execution.enums import ExitReason, OrderSide
from core.timeutil import utc_now

# The kind enum and the enum column type live with the Core tables the store writes through (no ORM there).
_enum = value_enum
__all__ = ["BacktestKind", "BacktestRun", "BacktestTrade", "StrategySource"]


class BacktestRun(Base):
    """A stored backtest, kept so past runs can be compared."""

    __tablename__ = "backtest_runs"
    __table_args__ = (Index("ix_backtest_runs_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    kind: Mapped[BacktestKind] = mapped_column(_enum(BacktestKind, 12), default=BacktestKind.SINGLE)
    strategy: Mapped[str] = mapped_column(String(60))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    engine: Mapped[str] = mapped_column(String(16))
    data_label: Mapped[str] = mapped_column(String(200))
    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id", ondelete="SET NULL"))
    timeframe: Mapped[str] = mapped_column(String(8))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    candles: Mapped[int] = mapped_column(Integer)
    initial_cash: Mapped[Decimal] = mapped_column(Money)
    final_equity: Mapped[Decimal | None] = mapped_column(Money)
    fee_bps: Mapped[float] = mapped_column(Float)
    slippage_bps: Mapped[float] = mapped_column(Float)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    baseline_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The equity curve and buy-and-hold baseline as a numpy archive (see store.py).
    equity_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The trades as one columnar numpy archive (store.py, revision 0240); runs stored before it
    # have rows in ``backtest_trades`` instead (read back the same way).
    trades_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    trade_count: Mapped[int | None] = mapped_column(Integer)
    # For sweeps: the swept parameter names and one {parameters, metrics} entry per combination.
    sweep: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)

    trades: Mapped[list[BacktestTrade]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="BacktestTrade.sequence"
    )


class BacktestTrade(Base):
    """One round trip of a stored backtest."""

    __tablename__ = "backtest_trades"
    __table_args__ = (UniqueConstraint("run_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    side: Mapped[OrderSide] = mapped_column(_enum(OrderSide, 8))
    entry_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entry_price: Mapped[Decimal] = mapped_column(Quantity)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    entry_fee: Mapped[Decimal] = mapped_column(Money)
    exit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_price: Mapped[Decimal | None] = mapped_column(Quantity)
    exit_fee: Mapped[Decimal] = mapped_column(Money)
    exit_reason: Mapped[ExitReason | None] = mapped_column(_enum(ExitReason, 16))
    pnl: Mapped[Decimal | None] = mapped_column(Money)

    run: Mapped[BacktestRun] = relationship(back_populates="trades")


class StrategySource(Base):
    """A strategy switched on as a live/paper signal source for one instrument and timeframe.

    The analyst worker evaluates it on each newly closed candle (``core.backtest.signal_source``); a
    signal becomes an order intent through ``core.execution.service.place_order``, so it passes the
    same pre-trade risk checks as every order. A strategy that raises is switched off here
    (``enabled`` false, ``disabled_reason``) with an alert.
    """

    __tablename__ = "strategy_sources"
    __table_args__ = (UniqueConstraint("strategy", "instrument_id", "timeframe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(60))
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), index=True)
    timeframe: Mapped[str] = mapped_column(String(8))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position_fraction: Mapped[Decimal] = mapped_column(Quantity)  # share of the quote cash per entry
    live: Mapped[bool] = mapped_column(Boolean, default=False)  # False: paper orders
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(2000))
    last_candle_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # open time of the newest candle seen
    last_signal: Mapped[str | None] = mapped_column(String(8))  # buy / sell / none at that candle
    last_order_id: Mapped[int | None] = mapped_column(Integer)  # the order its newest signal placed
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
