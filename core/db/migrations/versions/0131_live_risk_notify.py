"""risk-state changes notify listeners (PostgreSQL LISTEN/NOTIFY)

Revision ID: 0131_live_risk_notify
Revises: 0040_risk
Create Date: 2026-12-03 07:46:00

A statement-level trigger on ``risk_trading_states`` sends ``pg_notify('konsens_risk', ...)``,
so a halt or a lifted halt wakes the executor at once (``core/db/wakeup.py``). The function is
created here too (``CREATE OR REPLACE``), because this branch does not depend on ``0130``.
SQLite: nothing (the executor watches ``PRAGMA data_version``).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0131_live_risk_notify"
down_revision: str | Sequence[str] | None = "0040_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION konsens_notify_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER konsens_risk_notify AFTER INSERT OR UPDATE ON risk_trading_states "
        "FOR EACH STATEMENT EXECUTE FUNCTION konsens_notify_channel('konsens_risk')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS konsens_risk_notify ON risk_trading_states")
    op.execute(
        "DO $$ BEGIN DROP FUNCTION IF EXISTS konsens_notify_channel(); "
        "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$"
    )  # still used by the other branch's trigger: kept
