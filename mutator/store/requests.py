"""Requests and their decisions: the request projection, listings and the audit log.

A request is stored as one row (its body as JSON, plus the columns that are filtered on) at
a *revision*, and its decisions as rows of their own, appended and never rewritten; the
audit log reads those rows across requests.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mutator.listing import RequestPage
from mutator.models import AuditEntry, MutationRequest
from mutator.store import chain, listing
from mutator.store import statements as sql
from mutator.store.database import Database
from mutator.store.proofs import audit_entry_from_row, decision_from_row, proof_columns
from mutator.store.schema import decisions, requests


class ProjectionConflict(Exception):
    """The stored request revision does not follow from the one being written."""


class Requests:
    """Requests and decisions, read and written through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write requests through ``db``."""
        self._db = db

    def save_request(self, request: MutationRequest) -> None:
        """Write the request projection at ``request.revision``; see ``write_request``."""
        with self._db.write("save a request") as conn:
            write_request(conn, request)

    def get_request(self, request_id: str) -> MutationRequest | None:
        """The request as stored, or None."""
        with self._db.connect("read a request") as conn:
            return read_request(conn, request_id)

    def list_requests(
        self,
        *,
        status: str | None = None,
        state_id: str | None = None,
        pending_reason: str | None = None,
        limit: int = 100,
    ) -> list[MutationRequest]:
        """The newest ``limit`` whole requests, optionally of one status, state or reason."""
        query = (
            select(requests.c.request_id)
            .order_by(requests.c.created_at.desc(), requests.c.request_id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(requests.c.status == status)
        if state_id:
            query = query.where(listing.touches(requests.c.state_id, state_id))
        if pending_reason:
            query = query.where(requests.c.pending_reason == pending_reason)
        with self._db.connect("list requests") as conn:
            ids = list(conn.scalars(query))
            found = [read_request(conn, rid) for rid in ids]
        return [r for r in found if r is not None]

    def list_page(
        self,
        *,
        status: str | None = None,
        state_id: str | None = None,
        mutation: str | None = None,
        requester: str | None = None,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> RequestPage:
        """Summaries of the newest ``limit`` matching requests created before ``after``.

        ``after`` is the (created_at, request_id) of the previous page's last request; see
        listing.py.
        """
        with self._db.connect("list requests") as conn:
            return listing.list_page(
                conn,
                listing.Filters(
                    status=status,
                    state_id=state_id,
                    mutation=mutation,
                    requester=requester,
                ),
                limit=limit,
                after=after,
            )

    def audit(
        self, *, state_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest ``limit`` decisions, oldest first."""
        newest = (decisions.c.at.desc(), decisions.c.request_id.desc(), decisions.c.seq.desc())
        query = select(decisions).order_by(*newest)
        if state_id:
            query = query.where(listing.touches(decisions.c.state_id, state_id))
        if request_id:
            query = query.where(decisions.c.request_id == request_id)
        with self._db.connect("read the audit log") as conn:
            rows = list(reversed(conn.execute(query.limit(limit)).all()))
        return [audit_entry_from_row(dict(r._mapping)) for r in rows]


def write_request(conn: Connection, request: MutationRequest) -> None:
    """Write the request projection at ``request.revision`` (optimistic concurrency).

    Writing the revision already stored, or an older one, is a no-op (a retried or late
    activity attempt never moves the projection back); skipping a revision raises
    ProjectionConflict. Decisions beyond those already stored are appended. Runs inside the
    caller's write transaction (a change's apply writes its request in the same one).
    """
    head = conn.execute(sql.REQUEST_HEAD, {"request_id": request.request_id}).one_or_none()
    stored_revision = head.revision if head is not None else None
    if stored_revision is not None and stored_revision >= request.revision:
        return
    expected = request.revision - 1
    if (stored_revision or 0) != expected:
        raise ProjectionConflict(
            f"request {request.request_id!r} is stored at revision {stored_revision}, "
            f"cannot write revision {request.revision}"
        )
    # The decisions already stored and their chain's head, from the request row: the row
    # and its decisions are only ever written together, here.
    stored = (head.decision_seq or 0) if head is not None else 0
    new, last_hash = _decision_rows(request, stored, head.decision_hash if head else None)
    values = _request_row(request)
    values["decision_seq"] = stored + len(new)
    values["decision_hash"] = last_hash
    if stored_revision is None:
        conn.execute(sql.INSERT_REQUEST, {"request_id": request.request_id, **values})
    else:
        changed = conn.execute(
            update(requests)
            .where(requests.c.request_id == request.request_id)
            .where(requests.c.revision == expected)
            .values(**values)
        ).rowcount
        if changed != 1:
            raise ProjectionConflict(
                f"request {request.request_id!r} changed while revision "
                f"{request.revision} was being written"
            )
    if new:
        conn.execute(insert(decisions), new)


def read_request(conn: Connection, request_id: str) -> MutationRequest | None:
    """The request as stored, with its decisions, or None."""
    body = conn.execute(
        select(requests.c.body).where(requests.c.request_id == request_id)
    ).scalar_one_or_none()
    if body is None:
        return None
    data = json.loads(body)
    data["decisions"] = [
        decision_from_row(dict(r._mapping))
        for r in conn.execute(
            select(decisions).where(decisions.c.request_id == request_id).order_by(decisions.c.seq)
        )
    ]
    return MutationRequest.model_validate(data)


def _request_row(request: MutationRequest) -> dict[str, Any]:
    """The request's row, but its id: the filtered columns and the body (decisions apart)."""
    return {
        "state_id": request.state_id,
        "mutation": request.mutation,
        "requester": request.requester,
        "status": request.status.value,
        "pending_reason": request.pending_reason.value if request.pending_reason else None,
        "break_glass": request.break_glass,
        "revision": request.revision,
        "body": request.model_dump_json(exclude={"decisions"}),
        "created_at": request.created_at,
        "updated_at": request.updated_at,
    }


def _decision_rows(
    request: MutationRequest, stored: int, prev_hash: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of the decisions after the first ``stored``, each hash chained (chain.py).

    ``prev_hash``: the hash of decision ``stored``. Returns the rows and the chain's new head.
    """
    rows: list[dict[str, Any]] = []
    for seq, decision in enumerate(request.decisions[stored:], start=stored + 1):
        row = {
            "request_id": request.request_id,
            "seq": seq,
            "state_id": request.state_id,
            "category": decision.category.value,
            "code": decision.code,
            "actor": decision.actor,
            "reason": decision.reason,
            "at": decision.at,
            **proof_columns(decision.proof),
        }
        prev_hash = row["row_hash"] = chain.decision_hash(prev_hash, row)
        rows.append(row)
    return rows, prev_hash
