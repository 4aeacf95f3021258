"""The stored-backtest tables as SQLAlchemy Core tables: what ``core.backtest.store`` writes through.

No ORM here: storing a run (``konsens backtest --store``, a job, the Backtest page) is one Core
``INSERT`` into ``backtest_runs``, so the command that stores it imports neither
``sqlalchemy.orm`` nor ``core.backtest.models`` and configures no mapper. The columns are the
models' columns with the same types;
``tests/core/backtest/test_run_rows.py`` keeps them equal to
:class:`core.backtest.models.BacktestRun` / :class:`~core.backtest.models.BacktestTrade`.
These tables sit on their own ``MetaData`` (not ``Base.metadata``): migrations never see them.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Enum,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from core.db.types import Money, Quantity, UTCDateTime
from core.execution.enums import ExitReason, OrderSide


class BacktestKind(StrEnum):
    SINGLE = "single"  # one parameter set: trades, equity, metrics
    SWEEP = "sweep"  # a parameter grid: the metrics of every combination


def value_enum(enum: type[StrEnum], length: int) -> Enum:
    """A VARCHAR enum column type holding the members' values (the models' enum columns)."""
    return Enum(enum, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


_METADATA = MetaData()

BACKTEST_RUNS = Table(
    "backtest_runs",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("kind", value_enum(BacktestKind, 12), nullable=False),
    Column("strategy", String(60), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("engine", String(16), nullable=False),
    Column("data_label", String(200), nullable=False),
    Column("instrument_id", Integer, nullable=True),  # FK to instruments (SET NULL), declared by the model
    Column("timeframe", String(8), nullable=False),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    Column("candles", Integer, nullable=False),
    Column("initial_cash", Money, nullable=False),
    Column("final_equity", Money, nullable=True),
    Column("fee_bps", Float, nullable=False),
    Column("slippage_bps", Float, nullable=False),
    Column("config", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("baseline_metrics", JSON, nullable=False),
    Column("equity_blob", LargeBinary, nullable=True),
    Column("trades_blob", LargeBinary, nullable=True),
    Column("trade_count", Integer, nullable=True),
    Column("sweep", JSON, nullable=True),
    Column("seconds", Float, nullable=False),
    Column("is_demo", Boolean, nullable=False),
)

# Runs stored before revision 0240 keep one row per trade here (read back by ``load_run``; deleted with the run).
BACKTEST_TRADES = Table(
    "backtest_trades",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, nullable=False),  # FK to backtest_runs (CASCADE), declared by the model
    Column("sequence", Integer, nullable=False),
    Column("side", value_enum(OrderSide, 8), nullable=False),
    Column("entry_at", UTCDateTime, nullable=False),
    Column("entry_price", Quantity, nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("entry_fee", Money, nullable=False),
    Column("exit_at", UTCDateTime, nullable=True),
    Column("exit_price", Quantity, nullable=True),
    Column("exit_fee", Money, nullable=False),
    Column("exit_reason", value_enum(ExitReason, 16), nullable=True),
    Column("pnl", Money, nullable=True),
)
