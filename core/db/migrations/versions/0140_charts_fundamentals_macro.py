"""fundamentals and macro tables

Revision ID: 0140_charts_fundamentals_macro
Revises: 0002_news
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base


revision: str = '0140_charts_fundamentals_macro'
down_revision: str | Sequence[str] | None = '0002_news'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('asset_fundamentals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Enum('coingecko', 'yahoo', name='fundamentalssource', native_enum=False, length=16), nullable=False),
    sa.Column('provider_id', sa.String(length=80), nullable=False),
    sa.Column('as_of', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_asset_fundamentals_instrument_id_instruments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_fundamentals')),
    sa.UniqueConstraint('instrument_id', 'source', 'as_of', name='uq_asset_fundamentals_instrument_source_as_of')
    )
    with op.batch_alter_table('asset_fundamentals', schema=None) as batch_op:
        batch_op.create_index('ix_asset_fundamentals_instrument_fetched', ['instrument_id', 'fetched_at'], unique=False)

    op.create_table('macro_observations',
    sa.Column('series_id', sa.String(length=40), nullable=False),
    sa.Column('observation_date', sa.Date(), nullable=False),
    sa.Column('realtime_start', sa.Date(), nullable=False),
    sa.Column('value', core.db.base.Quantity(precision=38, scale=18), nullable=False),
    sa.Column('published_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('series_id', 'observation_date', 'realtime_start', name=op.f('pk_macro_observations'))
    )
    with op.batch_alter_table('macro_observations', schema=None) as batch_op:
        batch_op.create_index('ix_macro_observations_series_published', ['series_id', 'published_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('macro_observations', schema=None) as batch_op:
        batch_op.drop_index('ix_macro_observations_series_published')
    op.drop_table('macro_observations')
    with op.batch_alter_table('asset_fundamentals', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_fundamentals_instrument_fetched')
    op.drop_table('asset_fundamentals')
