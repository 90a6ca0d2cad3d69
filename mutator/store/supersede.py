"""Supersede's candidates: the older requests of one state and mutation still to execute.

Read by ``mutator.supersede_older`` for a newer request; each candidate's own workflow then
decides whether it is superseded (the store only says where to look).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select

from mutator.lifecycle.supersede import SUPERSEDABLE
from mutator.store.database import Database
from mutator.store.schema import requests


def older_candidates(
    db: Database, *, state_id: str, mutation: str, created_at: datetime, request_id: str
) -> list[str]:
    """The ids of the ``pending`` or ``approved`` requests older than the given one, oldest first.

    Older: created before ``created_at``, or at the same time with a smaller id, so two
    requests never both count as the other's older one. Batches never match (their
    ``mutation`` is ``batch``).
    """
    older = or_(
        requests.c.created_at < created_at,
        and_(requests.c.created_at == created_at, requests.c.request_id < request_id),
    )
    query = (
        select(requests.c.request_id)
        .where(
            requests.c.state_id == state_id,
            requests.c.mutation == mutation,
            requests.c.status.in_([status.value for status in SUPERSEDABLE]),
            requests.c.request_id != request_id,
            older,
        )
        .order_by(requests.c.created_at, requests.c.request_id)
    )
    with db.connect("find older requests to supersede") as conn:
        return list(conn.scalars(query))
