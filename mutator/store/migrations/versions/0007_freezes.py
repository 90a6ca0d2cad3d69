"""Freezes: operator-declared stops on changes, one row per `freeze start` (docs/gates.md).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutator_freezes",
        sa.Column("freeze_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mutations", sa.String(200), nullable=False),
        sa.Column("states", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mutator_freezes_name", "mutator_freezes", ["name", "until"])


def downgrade() -> None:
    op.drop_index("ix_mutator_freezes_name", "mutator_freezes")
    op.drop_table("mutator_freezes")
