"""Listing that scales: an index per `list` filter in the listing's order (for `--state`, one
on state_id and a partial one over batches only), and the pending reason as a column so that
`list` reads no request body.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "mutator_requests"
ORDER = ["created_at", "request_id"]
INDEXES = {
    "ix_mutator_requests_created": ORDER,
    "ix_mutator_requests_status_created": ["status", *ORDER],
    "ix_mutator_requests_state_created": ["state_id", *ORDER],
    "ix_mutator_requests_mutation_created": ["mutation", *ORDER],
    "ix_mutator_requests_requester_created": ["requester", *ORDER],
}
# Batches only: `list --state` finds the batches that include a state among them alone.
BATCHES = "ix_mutator_requests_batches_created"
BATCH_ROWS = sa.text("state_id LIKE '%,%'")
# Prefixes of the new status and state indexes.
REPLACED = {
    "ix_mutator_requests_status": ["status"],
    "ix_mutator_requests_state_id": ["state_id"],
}


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("pending_reason", sa.String(20), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        body_reason = "(body::json) ->> 'pending_reason'"
    else:
        body_reason = "json_extract(body, '$.pending_reason')"
    op.execute(f"UPDATE {TABLE} SET pending_reason = {body_reason}")
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)
    op.create_index(BATCHES, TABLE, ORDER, sqlite_where=BATCH_ROWS, postgresql_where=BATCH_ROWS)
    for name in REPLACED:
        op.drop_index(name, TABLE)


def downgrade() -> None:
    for name, columns in REPLACED.items():
        op.create_index(name, TABLE, columns)
    op.drop_index(BATCHES, TABLE)
    for name in INDEXES:
        op.drop_index(name, TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("pending_reason")
