"""strategy_sources: strategies switched on as live/paper signal sources

Revision ID: 0220_strategy_sources
Revises: 0060_backtest
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0220_strategy_sources"
down_revision: str | Sequence[str] | None = "0060_backtest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "strategy_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=60), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("position_fraction", core.db.base.Quantity(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=2000), nullable=True),
        sa.Column("last_candle_at", core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_signal", sa.String(length=8), nullable=True),
        sa.Column("last_order_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_strategy_sources_instrument_id_instruments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_sources")),
        sa.UniqueConstraint(
            "strategy", "instrument_id", "timeframe", name=op.f("uq_strategy_sources_strategy_instrument_id_timeframe")
        ),
    )
    op.create_index(op.f("ix_strategy_sources_instrument_id"), "strategy_sources", ["instrument_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_strategy_sources_instrument_id"), table_name="strategy_sources")
    op.drop_table("strategy_sources")
