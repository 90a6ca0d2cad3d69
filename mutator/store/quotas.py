"""Quota slots, taken in the execution's own transaction (mutator/quotas.py).

``take_slot`` runs inside the write transaction that writes the state: it locks the quota
key's row (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite: the write transaction's
``BEGIN IMMEDIATE`` already serializes every writer), counts the uses still inside the
window, and either records this use or raises ``QuotaFull``. The transaction's rollback
(a lost compare-and-set, a refused fence, ``QuotaFull`` itself) takes the use back with
it, so the count is exact under concurrency whatever the key: executions on different
states that share a ``requester`` or ``mutation`` key queue on its row.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from mutator.quotas import QuotaExceeded, QuotaUse, next_slot
from mutator.store.database import Database
from mutator.store.schema import quota_keys, quota_uses


class QuotaFull(Exception):
    """Every slot of the quota is taken; nothing was written."""

    def __init__(self, exceeded: QuotaExceeded) -> None:
        """Carry what the execution found (``exceeded.detail`` is the message)."""
        super().__init__(exceeded.detail)
        self.exceeded = exceeded


def _lock_key(conn: Connection, key: str) -> None:
    """Create the key's row if it is new, then lock it until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(quota_keys).values(quota_key=key).on_conflict_do_nothing())
        conn.execute(
            select(quota_keys.c.quota_key).where(quota_keys.c.quota_key == key).with_for_update()
        )
    else:
        # SQLite: the transaction holds the database's write lock already.
        conn.execute(sqlite.insert(quota_keys).values(quota_key=key).on_conflict_do_nothing())


def take_slot(conn: Connection, use: QuotaUse, request_id: str) -> None:
    """Record ``request_id``'s use of a slot at ``use.at``, on the caller's transaction.

    Raises:
        QuotaFull: ``use.limit`` uses are inside the window ``(use.at - use.per, use.at]``
            already; nothing is written (the caller's transaction should roll back).
    """
    key = use.row_key
    _lock_key(conn, key)
    since = use.at - use.per
    # Uses that left the window can never count again: drop them.
    conn.execute(
        delete(quota_uses).where(quota_uses.c.quota_key == key, quota_uses.c.used_at <= since)
    )
    inside = [
        row.used_at
        for row in conn.execute(
            select(quota_uses.c.used_at).where(
                quota_uses.c.quota_key == key, quota_uses.c.used_at > since
            )
        )
    ]
    if len(inside) >= use.limit:
        raise QuotaFull(
            QuotaExceeded(
                use=use, used=len(inside), next_slot=next_slot(inside, use.limit, use.per)
            )
        )
    conn.execute(insert(quota_uses).values(quota_key=key, request_id=request_id, used_at=use.at))


class Quotas:
    """Reading quota uses (the writes go with executions: ``take_slot``)."""

    def __init__(self, db: Database) -> None:
        """Read through ``db``."""
        self._db = db

    def used(self, use: QuotaUse) -> int:
        """How many uses of ``use``'s key are inside its window ending at ``use.at``."""
        with self._db.connect("count quota uses") as conn:
            count: int = conn.execute(
                select(func.count()).where(
                    quota_uses.c.quota_key == use.row_key,
                    quota_uses.c.used_at > use.at - use.per,
                    quota_uses.c.used_at <= use.at,
                )
            ).scalar_one()
        return count
