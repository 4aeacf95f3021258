"""jobs: the queue of long work (sweeps, searches, walk-forwards, replays) run by the jobs worker

Revision ID: 0190_jobs
Revises: 0002_news

On PostgreSQL a statement-level trigger notifies channel ``konsens_jobs`` when jobs are inserted
or changed, so the jobs worker waits on ``LISTEN`` (``core/db/wakeup.py``) instead of polling.
The notify function is the one of ``0130_live_notify`` (created here too, ``CREATE OR REPLACE``:
the branches are independent).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0190_jobs"
down_revision: str | Sequence[str] | None = "0002_news"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS = sa.Enum(
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted",
    name="jobstatus", native_enum=False, length=12,
)

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION konsens_notify_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("resumable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("progress_done", sa.Integer(), nullable=False),
        sa.Column("progress_total", sa.Integer(), nullable=False),
        sa.Column("progress_message", sa.String(length=500), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("heartbeat_at", core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=60), nullable=True),
        sa.Column("created_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_status_id", "jobs", ["status", "id"])
    op.create_index("ix_jobs_created", "jobs", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NOTIFY_FUNCTION)
        op.execute(
            "CREATE TRIGGER konsens_jobs_notify AFTER INSERT OR UPDATE ON jobs "
            "FOR EACH STATEMENT EXECUTE FUNCTION konsens_notify_channel('konsens_jobs')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS konsens_jobs_notify ON jobs")
    op.drop_index("ix_jobs_created", table_name="jobs")
    op.drop_index("ix_jobs_status_id", table_name="jobs")
    op.drop_table("jobs")
