"""instruments carry the venue's order rules; orders gain DENIED and TRIGGERED

Revision ID: 0110_venue_instrument_rules
Revises: 0010_trading

The order statuses are stored as plain strings (``native_enum=False``, no CHECK constraint), so
the new values ``denied`` and ``triggered`` need no schema change; the audit action
``order_denied`` likewise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0110_venue_instrument_rules"
down_revision: str | Sequence[str] | None = "0010_trading"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tick_size", core.db.base.Quantity(precision=38, scale=18), nullable=True))
        batch_op.add_column(sa.Column("lot_size", core.db.base.Quantity(precision=38, scale=18), nullable=True))
        batch_op.add_column(sa.Column("min_quantity", core.db.base.Quantity(precision=38, scale=18), nullable=True))
        batch_op.add_column(sa.Column("min_notional", core.db.base.Quantity(precision=38, scale=18), nullable=True))
        batch_op.add_column(sa.Column("rules_source", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("rules_updated_at", core.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_column("rules_updated_at")
        batch_op.drop_column("rules_source")
        batch_op.drop_column("min_notional")
        batch_op.drop_column("min_quantity")
        batch_op.drop_column("lot_size")
        batch_op.drop_column("tick_size")
