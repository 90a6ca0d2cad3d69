"""Re-verifying the record's stored signatures (``audit --verify`` given a directory).

The checks are the domain's (mutator/identity/audit.py); this reads what they need: each
request's decision rows with their proofs, and the request's body (its payload, for the
envelope's hash).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from mutator.identity.audit import SignatureAudit, audit_signatures
from mutator.identity.marks import RecordedDecision
from mutator.models import MutationRequest
from mutator.record import RecordVerification
from mutator.store.proofs import proof_from_columns
from mutator.store.schema import requests


def check_signatures(
    conn: Connection,
    chains: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    audit: SignatureAudit,
    report: RecordVerification,
) -> None:
    """Check the signatures of ``chains`` (request id, its decision rows by seq) into ``report``."""
    report.signatures = audit.check
    for request_id, rows in chains:
        decisions = [_recorded(row) for row in rows]
        request = _stored_request(conn, request_id) if decisions else None
        audit_signatures(request_id, decisions, request, audit, report)


def _recorded(row: Mapping[str, Any]) -> RecordedDecision:
    return RecordedDecision(
        request_id=row["request_id"],
        seq=row["seq"],
        category=row["category"],
        code=row["code"],
        actor=row["actor"],
        reason=row["reason"],
        proof=proof_from_columns(row),
    )


def _stored_request(conn: Connection, request_id: str) -> MutationRequest | None:
    """The request's body, or None when it is missing or unreadable (the chain tells)."""
    body = conn.execute(
        select(requests.c.body).where(requests.c.request_id == request_id)
    ).scalar_one_or_none()
    if body is None:
        return None
    try:
        return MutationRequest.model_validate({**json.loads(body), "decisions": []})
    except (ValueError, TypeError, ValidationError):
        return None
