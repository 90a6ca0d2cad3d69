"""Fencing tokens per state, for the state lanes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutator_fences",
        sa.Column("state_id", sa.String(200), primary_key=True),
        sa.Column("token", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mutator_fences")
