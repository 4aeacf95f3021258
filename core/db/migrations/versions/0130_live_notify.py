"""orders, quotes and candles notify listeners (PostgreSQL LISTEN/NOTIFY)

Revision ID: 0130_live_notify
Revises: 0010_trading
Create Date: 2026-12-03 07:45:00

Statement-level triggers send ``pg_notify`` when a statement inserts into or changes ``orders``
(channel ``konsens_orders``: new orders, cancel requests, status changes) and ``quotes`` /
``candles`` (channel ``konsens_prices``). Every writer notifies by itself, inside its own
transaction (delivered at commit, once per channel and transaction), so the executor can wait
on ``LISTEN`` instead of querying in a loop (``core/db/wakeup.py``). SQLite has no NOTIFY: the
executor watches ``PRAGMA data_version`` there, so nothing is created on SQLite.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0130_live_notify"
down_revision: str | Sequence[str] | None = "0010_trading"
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

TRIGGERS = {
    "konsens_orders_notify": ("orders", "INSERT OR UPDATE", "konsens_orders"),
    "konsens_quotes_notify": ("quotes", "INSERT OR UPDATE", "konsens_prices"),
    "konsens_candles_notify": ("candles", "INSERT OR UPDATE", "konsens_prices"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(NOTIFY_FUNCTION)
    for name, (table, events, channel) in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} AFTER {events} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION konsens_notify_channel('{channel}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, _events, _channel) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute(
        "DO $$ BEGIN DROP FUNCTION IF EXISTS konsens_notify_channel(); "
        "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$"
    )  # still used by the other branch's trigger: kept
