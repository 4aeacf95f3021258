"""ops: trace contexts of intents

Revision ID: 0150_ops_trace_contexts
Revises: 0002_news
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base


revision: str = '0150_ops_trace_contexts'
down_revision: str | Sequence[str] | None = '0002_news'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trace_contexts',
    sa.Column('subject', sa.String(length=120), nullable=False),
    sa.Column('traceparent', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject', name=op.f('pk_trace_contexts'))
    )


def downgrade() -> None:
    op.drop_table('trace_contexts')
