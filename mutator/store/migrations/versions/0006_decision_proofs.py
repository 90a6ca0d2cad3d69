"""Signed decisions: a decision row keeps the proof of a person's signed action (the envelope,
the SSHSIG signature, the key's fingerprint), in three nullable columns.

Existing rows get NULLs: they were not signed. A decision's hash covers its proof only when
it has one (mutator/store/chain.py), so the hashes of existing rows stay valid without a
rehash.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "mutator_decisions"
COLUMNS = (
    ("proof_envelope", sa.Text()),
    ("proof_signature", sa.Text()),
    ("proof_fingerprint", sa.String(100)),
)


def upgrade() -> None:
    for name, column_type in COLUMNS:
        op.add_column(TABLE, sa.Column(name, column_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
