"""Backtest runs keep their trades as one compressed columnar archive (``trades_blob``, ``trade_count``)

Revision ID: 0240_backtest_trade_blob
Revises: 0060_backtest
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0240_backtest_trade_blob"
down_revision: str | Sequence[str] | None = "0060_backtest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backtest_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trades_blob", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("trade_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtest_runs", schema=None) as batch_op:
        batch_op.drop_column("trade_count")
        batch_op.drop_column("trades_blob")
