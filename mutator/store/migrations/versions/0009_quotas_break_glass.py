"""Quotas: a row per quota key (locked while a slot is taken) and a row per use; break-glass:
the requests' break_glass column, for `list` (docs/gates.md).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mutator_requests") as batch:
        batch.add_column(
            sa.Column("break_glass", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "mutator_quota_keys",
        sa.Column("quota_key", sa.Text, primary_key=True),
    )
    op.create_table(
        "mutator_quota_uses",
        sa.Column("use_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("quota_key", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mutator_quota_uses_key", "mutator_quota_uses", ["quota_key", "used_at"])


def downgrade() -> None:
    op.drop_index("ix_mutator_quota_uses_key", "mutator_quota_uses")
    op.drop_table("mutator_quota_uses")
    op.drop_table("mutator_quota_keys")
    with op.batch_alter_table("mutator_requests") as batch:
        batch.drop_column("break_glass")
