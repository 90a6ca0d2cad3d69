"""What a signature must match on a request: its signed payload, expected envelope, nonces.

Shared by the signer (client, CLI), the worker's checks and ``audit --verify``, so all of
them hash the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mutator.identity.envelope import Action, payload_sha256
from mutator.identity.verify import (
    Expected,
    MalformedEnvelope,
    parse_envelope,
    signature_fingerprint,
)
from mutator.models import BatchItem, BatchItemResult, MutationRequest, SignedProof

BATCH_MUTATION = "batch"


def signed_payload(
    mutation: str,
    payload: Mapping[str, Any],
    items: Sequence[BatchItem | BatchItemResult] = (),
    *,
    after: Sequence[str] = (),
    not_before: datetime | None = None,
    break_glass: bool = False,
    compensates: str | None = None,
    compensation_mode: str | None = None,
    compensate_on_failure: bool = False,
) -> dict[str, Any]:
    """The object whose SHA-256 an envelope's ``payload_sha256`` is.

    The change: a single mutation's payload; a batch's ``{"items": [...]}``, each item's
    ``state_id``, ``mutation``, ``payload`` and ``expected_version`` in order, so one
    signature covers every item (docs/security.md, "Batches"). A request that also says
    when it may run (``after``, ``not_before``) signs ``{"change": <the change>, "after":
    [...], "not_before": "<UTC ISO 8601>"}`` (each key only when set), so whoever alters
    the submit in transit cannot drop or change its dependencies or its earliest start. A
    break-glass request signs ``{"change": ..., "break_glass": true}``, so a signature made
    without the flag never authorizes break-glass (docs/security.md). A compensation signs
    ``{"compensates": <the original's id>, "compensation_mode": "restore"|"inverse"}``: its
    payload is planned by the worker from the original's record, after the signature is
    made, so the signature covers what the signer chose (which request, undone how). A
    sequential batch that compensates on failure signs ``{"change": ...,
    "compensate_on_failure": true}``.
    """
    if compensates is not None:
        return {"compensates": compensates, "compensation_mode": compensation_mode}
    change = _signed_change(mutation, payload, items)
    if not after and not_before is None and not break_glass and not compensate_on_failure:
        return change
    signed: dict[str, Any] = {"change": change}
    if compensate_on_failure:
        signed["compensate_on_failure"] = True
    if break_glass:
        signed["break_glass"] = True
    if after:
        signed["after"] = list(after)
    if not_before is not None:
        signed["not_before"] = not_before.astimezone(UTC).isoformat()
    return signed


def _signed_change(
    mutation: str,
    payload: Mapping[str, Any],
    items: Sequence[BatchItem | BatchItemResult],
) -> dict[str, Any]:
    if mutation != BATCH_MUTATION or not items:
        return dict(payload)
    return {
        "items": [
            {
                "state_id": item.state_id,
                "mutation": item.mutation,
                "payload": dict(item.payload),
                "expected_version": item.expected_version,
            }
            for item in items
        ]
    }


def request_signed_payload(request: MutationRequest) -> dict[str, Any]:
    """The request's signed payload (see ``signed_payload``): its change and its timing."""
    return signed_payload(
        request.mutation,
        request.payload,
        request.items,
        after=request.after,
        not_before=request.not_before,
        break_glass=request.break_glass,
        compensates=request.compensates,
        compensation_mode=request.compensation_mode,
        compensate_on_failure=request.compensate_on_failure,
    )


def request_payload_sha256(request: MutationRequest) -> str:
    """SHA-256 of the request's signed payload (see ``signed_payload``)."""
    return payload_sha256(request_signed_payload(request))


def expected_for(
    request: MutationRequest,
    action: Action,
    actor: str | None = None,
    comment: str | None = None,
) -> Expected:
    """What an envelope for ``action`` on ``request`` as it stands must say.

    A submit is bound to the version its requester computed against (``expected_version``);
    a vote to the base version the request is checked against now, which changes when the
    state moves and the approvals are cleared. ``actor`` and ``comment``, when given, are
    what the caller sent alongside the envelope: the envelope must say the same.
    """
    return Expected(
        action=action,
        request_id=request.request_id,
        state_id=request.state_id,
        mutation=request.mutation,
        payload_sha256=request_payload_sha256(request),
        base_version=request.expected_version if action == "submit" else request.base_version,
        actor=actor,
        comment=comment,
    )


def used_nonces(request: MutationRequest) -> set[str]:
    """The nonces of every signed decision the request records: none may be used again."""
    nonces: set[str] = set()
    for decision in request.decisions:
        if decision.proof is not None:
            nonce = decision.proof.envelope.get("nonce")
            if isinstance(nonce, str):
                nonces.add(nonce)
    return nonces


def proof_of(envelope: Mapping[str, Any], signature: str) -> SignedProof:
    """The proof a decision stores for this envelope and signature (no key check).

    Raises:
        MalformedEnvelope: The envelope is not an envelope.
        MalformedSignature: The signature is not an armored SSHSIG signature.
    """
    parsed = parse_envelope(envelope)
    return SignedProof(
        envelope=parsed.model_dump(mode="json"),
        signature=signature.strip(),
        fingerprint=signature_fingerprint(signature),
    )


__all__ = [
    "BATCH_MUTATION",
    "MalformedEnvelope",
    "expected_for",
    "proof_of",
    "request_payload_sha256",
    "request_signed_payload",
    "signed_payload",
    "used_nonces",
]
