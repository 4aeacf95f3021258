"""The stored-backtest runs table as a SQLAlchemy Core table: what ``core.backtest.store`` writes through.

No ORM here: storing a run (``konsens backtest --store``, a job, the Backtest page) is one Core
``INSERT`` into ``backtest_runs``, so the command that stores it imports neither
``sqlalchemy.orm`` nor ``core.backtest.models`` and configures no mapper. The columns are the
model's columns with the same types; ``tests/core/backtest/test_run_rows.py`` keeps them equal to
:class:`core.backtest.models.BacktestRun`. The table sits on its own ``MetaData`` (not
``Base.metadata``): migrations never see it. (Runs stored before revision 0240 have rows in
``backtest_trades``; only the readers and ``delete_run`` touch them, through the models.)
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

from core.db.types import Money, UTCDateTime


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
