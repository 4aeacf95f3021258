"""SQLite: per-channel change counters, so the executor wakes only for commits that concern it

Revision ID: 0200_live_sqlite_changes
Revises: 0131_live_risk_notify
Create Date: 2026-12-03 11:10:00

SQLite's ``PRAGMA data_version`` changes on every commit of any writer (heartbeats, news,
streamed quotes), so it cannot tell the executor what changed. Row triggers on ``orders`` (insert;
an update of ``status`` or ``cancel_requested_at``) and ``risk_trading_states`` bump a counter per
channel in ``change_counters``; the executor's waiter reads that one tiny table after a
``data_version`` change and reports only the channels whose counter moved
(``core/db/wakeup.py``). Quotes and candles get no trigger (bulk imports stay as fast as they
were): the executor watches prices only while resting orders or exit plans exist.
PostgreSQL: nothing (``LISTEN/NOTIFY`` per channel, migrations 0130/0131).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0200_live_sqlite_changes"
down_revision: str | Sequence[str] | None = "0131_live_risk_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0010_trading"

BUMP = "UPDATE change_counters SET version = version + 1 WHERE channel = '{channel}'"
TRIGGERS = {
    "konsens_orders_insert": "AFTER INSERT ON orders",
    "konsens_orders_update": "AFTER UPDATE OF status, cancel_requested_at ON orders",
    "konsens_risk_insert": "AFTER INSERT ON risk_trading_states",
    "konsens_risk_update": "AFTER UPDATE ON risk_trading_states",
}
CHANNELS = {
    "konsens_orders_insert": "konsens_orders",
    "konsens_orders_update": "konsens_orders",
    "konsens_risk_insert": "konsens_risk",
    "konsens_risk_update": "konsens_risk",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE change_counters (channel VARCHAR(40) PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0)")
    op.execute("INSERT INTO change_counters (channel, version) VALUES ('konsens_orders', 0), ('konsens_risk', 0)")
    for name, event in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {BUMP.format(channel=CHANNELS[name])}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS change_counters")
