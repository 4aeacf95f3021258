"""AI decision records: snapshot, model version, request parameters, checked figures, EUR costs, history runs

Revision ID: 0180_ai_audit
Revises: 0020_ai
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0180_ai_audit"
down_revision: str | Sequence[str] | None = "0020_ai"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS = sa.Enum("running", "done", "stopped", "failed", name="historyrunstatus", native_enum=False, length=12)
_ORIGIN = sa.Enum("live", "history", name="consensusorigin", native_enum=False, length=12)


def upgrade() -> None:
    op.create_table(
        "ai_history_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("started_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", core.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("since", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("every_hours", sa.Float(), nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("analysts", sa.JSON(), nullable=False),
        sa.Column("points_planned", sa.Integer(), nullable=False),
        sa.Column("points_done", sa.Integer(), nullable=False),
        sa.Column("estimated_calls", sa.Integer(), nullable=False),
        sa.Column("estimated_cost_eur", core.db.base.Money(), nullable=True),
        sa.Column("cost_cap_eur", core.db.base.Money(), nullable=True),
        sa.Column("cost_eur", core.db.base.Money(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("contamination", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_ai_history_runs_instrument_id_instruments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_history_runs")),
    )
    with op.batch_alter_table("consensus_results") as batch:
        batch.add_column(sa.Column("snapshot", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("discounted", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("origin", _ORIGIN, nullable=False, server_default="live"))
        batch.add_column(sa.Column("history_run_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_consensus_results_history_run_id_ai_history_runs"), "ai_history_runs", ["history_run_id"],
            ["id"], ondelete="CASCADE",
        )
        batch.create_index("ix_consensus_results_origin", ["origin"])
    with op.batch_alter_table("ai_opinions") as batch:
        batch.add_column(sa.Column("model_version", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("request_params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("prompt_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("konsens_version", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("cost_eur", core.db.base.Money(), nullable=True))
        batch.add_column(sa.Column("claims", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("claims_checked", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claims_false", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("contaminated", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("replay_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_ai_opinions_replay_of_id_ai_opinions"), "ai_opinions", ["replay_of_id"], ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("analyst_track_records") as batch:
        batch.add_column(sa.Column("opinions_checked", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("opinions_with_false_claims", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("analyst_track_records") as batch:
        batch.drop_column("opinions_with_false_claims")
        batch.drop_column("opinions_checked")
    with op.batch_alter_table("ai_opinions") as batch:
        batch.drop_constraint(op.f("fk_ai_opinions_replay_of_id_ai_opinions"), type_="foreignkey")
        for name in ("replay_of_id", "contaminated", "claims_false", "claims_checked", "claims", "cost_eur",
                     "konsens_version", "prompt_hash", "request_params", "model_version"):
            batch.drop_column(name)
    with op.batch_alter_table("consensus_results") as batch:
        batch.drop_index("ix_consensus_results_origin")
        batch.drop_constraint(op.f("fk_consensus_results_history_run_id_ai_history_runs"), type_="foreignkey")
        for name in ("history_run_id", "origin", "discounted", "snapshot"):
            batch.drop_column(name)
    op.drop_table("ai_history_runs")
