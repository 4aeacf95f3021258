"""Strategy lab: stored walk-forwards, parameter searches and robustness reports

Revision ID: 0230_lab
Revises: 0002_news
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0230_lab"
down_revision: str | Sequence[str] | None = "0002_news"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KIND = sa.Enum("search", "walk_forward", "robustness", name="labkind", native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "lab_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", _KIND, nullable=False),
        sa.Column("strategy", sa.String(length=60), nullable=False),
        sa.Column("data_label", sa.String(length=200), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=True),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_lab_results_instrument_id_instruments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_results")),
    )
    op.create_index("ix_lab_results_created", "lab_results", ["created_at"])
    op.create_index("ix_lab_results_strategy", "lab_results", ["strategy"])


def downgrade() -> None:
    op.drop_index("ix_lab_results_strategy", table_name="lab_results")
    op.drop_index("ix_lab_results_created", table_name="lab_results")
    op.drop_table("lab_results")
