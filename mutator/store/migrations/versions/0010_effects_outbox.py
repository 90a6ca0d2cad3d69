"""Side effects: the outbox of emitted events and each handler attempt (docs/changes.md).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An effect's id is its request id (up to 200 characters) and ``#<item>:<n>``, and its
    # webhook attempts are recorded under it. SQLite does not enforce VARCHAR lengths.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "mutator_webhook_deliveries",
            "event_id",
            type_=sa.String(220),
            existing_type=sa.String(200),
            existing_nullable=False,
        )
    op.create_table(
        "mutator_effects",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(220), nullable=False, unique=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("state_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mutator_effects_request", "mutator_effects", ["request_id", "seq"])
    op.create_table(
        "mutator_effect_attempts",
        sa.Column("attempt_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(220), nullable=False),
        sa.Column("handler", sa.String(300), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_mutator_effect_attempts_event", "mutator_effect_attempts", ["event_id", "attempt_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_mutator_effect_attempts_event", "mutator_effect_attempts")
    op.drop_table("mutator_effect_attempts")
    op.drop_index("ix_mutator_effects_request", "mutator_effects")
    op.drop_table("mutator_effects")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DELETE FROM mutator_webhook_deliveries WHERE length(event_id) > 200")
        op.alter_column(
            "mutator_webhook_deliveries",
            "event_id",
            type_=sa.String(200),
            existing_type=sa.String(220),
            existing_nullable=False,
        )
