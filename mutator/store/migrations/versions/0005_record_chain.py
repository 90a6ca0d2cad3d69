"""The tamper-evident record: each decision and history row carries a hash chained to the
previous row of its request or state, and the request and state rows the head of their chain
(mutator/store/chain.py, docs/security.md).

Rows written before this revision are hashed here, in order (decisions by seq, history by
version), in the upgrade's transaction: from then on they verify like any other row. What
they held before the upgrade is vouched for by nothing but the upgrade itself.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

from mutator.store import chain
from mutator.store.schema import decisions, requests, state_history, states

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HASH = sa.String(64)


def upgrade() -> None:
    op.add_column("mutator_decisions", sa.Column("row_hash", HASH, nullable=True))
    op.add_column("mutator_state_history", sa.Column("row_hash", HASH, nullable=True))
    op.add_column("mutator_requests", sa.Column("decision_seq", sa.Integer, nullable=True))
    op.add_column("mutator_requests", sa.Column("decision_hash", HASH, nullable=True))
    op.add_column("mutator_states", sa.Column("history_hash", HASH, nullable=True))
    conn = op.get_bind()
    _hash_decisions(conn)
    _hash_history(conn)


def downgrade() -> None:
    with op.batch_alter_table("mutator_states") as batch:
        batch.drop_column("history_hash")
    with op.batch_alter_table("mutator_requests") as batch:
        batch.drop_column("decision_hash")
        batch.drop_column("decision_seq")
    with op.batch_alter_table("mutator_state_history") as batch:
        batch.drop_column("row_hash")
    with op.batch_alter_table("mutator_decisions") as batch:
        batch.drop_column("row_hash")


def _chains(rows: Iterator[Any], key: str) -> Iterator[tuple[str, list[Any]]]:
    for chain_id, group in groupby(rows, key=lambda r: getattr(r, key)):
        yield chain_id, list(group)


def _hash_decisions(conn: sa.Connection) -> None:
    columns = [decisions.c[name] for name in chain.DECISION_FIELDS]
    rows = conn.execute(sa.select(*columns).order_by(decisions.c.request_id, decisions.c.seq)).all()
    for request_id, chain_rows in _chains(iter(rows), "request_id"):
        head = None
        for row in chain_rows:
            head = chain.decision_hash(head, row._mapping)
            conn.execute(
                sa.update(decisions)
                .where(decisions.c.request_id == request_id, decisions.c.seq == row.seq)
                .values(row_hash=head)
            )
        conn.execute(
            sa.update(requests)
            .where(requests.c.request_id == request_id)
            .values(decision_seq=chain_rows[-1].seq, decision_hash=head)
        )
    # Requests without decisions: an empty chain.
    conn.execute(
        sa.update(requests).where(requests.c.decision_seq.is_(None)).values(decision_seq=0)
    )


def _hash_history(conn: sa.Connection) -> None:
    columns = [state_history.c[name] for name in chain.HISTORY_FIELDS]
    rows = conn.execute(
        sa.select(*columns).order_by(state_history.c.state_id, state_history.c.version)
    ).all()
    for state_id, chain_rows in _chains(iter(rows), "state_id"):
        head = None
        for row in chain_rows:
            head = chain.history_hash(head, row._mapping)
            conn.execute(
                sa.update(state_history)
                .where(state_history.c.state_id == state_id, state_history.c.version == row.version)
                .values(row_hash=head)
            )
        conn.execute(
            sa.update(states).where(states.c.state_id == state_id).values(history_hash=head)
        )
