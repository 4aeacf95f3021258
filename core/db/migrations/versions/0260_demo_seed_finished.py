"""Demo databases seeded before the seed marked its end are marked as finished

Revision ID: 0260_demo_seed_finished
Revises: 0100_sec_users
Create Date: 2026-12-06 23:05:00

The demo seed now writes ``demo.seed_finished_at`` after the last area's demo data; without it a
database with demo data counts as a seed that was stopped (the banner says the demo data is
incomplete, ``konsens up`` runs the seed again). A database seeded before that mark existed was
seeded to its end, so it gets the mark, stamped with its seed's anchor (``demo.seeded_at``).
Nothing is written into a database without demo data. The downgrade keeps the mark (the code
before this revision never reads it, and it cannot tell the marks written here from the seed's).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0260_demo_seed_finished"
down_revision: str | Sequence[str] | None = "0100_sec_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED_AT = "demo.seeded_at"
FINISHED_AT = "demo.seed_finished_at"

settings = sa.table(
    "settings",
    sa.column("key", sa.String(120)),
    sa.column("value", sa.JSON()),
    sa.column("updated_at", core.db.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    connection = op.get_bind()
    values = dict(
        connection.execute(
            sa.select(settings.c.key, settings.c.value).where(settings.c.key.in_((SEEDED_AT, FINISHED_AT)))
        ).all()
    )
    if SEEDED_AT not in values or FINISHED_AT in values:
        return
    from datetime import UTC, datetime

    connection.execute(
        settings.insert().values(key=FINISHED_AT, value=values[SEEDED_AT], updated_at=datetime.now(UTC))
    )


def downgrade() -> None:
    """Nothing: the mark is harmless to the code before it (which never reads it), and it tells a finished seed."""
