"""Webhook deliveries: one row per attempt to deliver an event (docs/notifications.md).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutator_webhook_deliveries",
        sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_mutator_webhook_deliveries_request",
        "mutator_webhook_deliveries",
        ["request_id", "delivery_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_mutator_webhook_deliveries_request", "mutator_webhook_deliveries")
    op.drop_table("mutator_webhook_deliveries")
