"""Initial schema: states, history, requests, decisions, mutation catalog.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutator_states",
        sa.Column("state_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mutator_state_history",
        sa.Column("state_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("state_id", "version"),
        sa.UniqueConstraint("request_id", "state_id", name="uq_history_request_state"),
    )
    op.create_table(
        "mutator_requests",
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("state_id", sa.String(200), nullable=False),
        sa.Column("mutation", sa.String(200), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mutator_requests_state_id", "mutator_requests", ["state_id"])
    op.create_index("ix_mutator_requests_status", "mutator_requests", ["status"])
    op.create_table(
        "mutator_decisions",
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state_id", sa.String(200), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "seq"),
    )
    op.create_index("ix_mutator_decisions_state_id", "mutator_decisions", ["state_id"])
    op.create_table(
        "mutator_mutation_catalog",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("on_stale", sa.String(20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mutator_mutation_catalog")
    op.drop_index("ix_mutator_decisions_state_id", "mutator_decisions")
    op.drop_table("mutator_decisions")
    op.drop_index("ix_mutator_requests_status", "mutator_requests")
    op.drop_index("ix_mutator_requests_state_id", "mutator_requests")
    op.drop_table("mutator_requests")
    op.drop_table("mutator_state_history")
    op.drop_table("mutator_states")
