"""The worker's signature checks that run as activities: a submit's, and a signalled vote's.

They read the app's identity settings and the real clock. Update validators check votes
themselves (``mutator.workflows.request_votes``); a signal has no validator and its handler
replays, so it asks ``verify_vote``, whose answer the workflow's history keeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mutator import lifecycle
from mutator.app import MutationApp
from mutator.contracts import (
    EvaluateInput,
    EvaluateResult,
    VerifySubmitInput,
    VerifyVoteInput,
    VerifyVoteResult,
)
from mutator.decisions import EvaluationOutcome
from mutator.identity.checks import signature_refusal
from mutator.identity.registry import IdentityConfig
from mutator.models import MutationRequest, SignedProof


def identity_config(app: MutationApp) -> IdentityConfig:
    """The identity settings ``app``'s workers run with."""
    return IdentityConfig(app.identity, app.identities, app.signature_tolerance)


def verify_vote(app: MutationApp, input: VerifyVoteInput) -> VerifyVoteResult:
    """Check a signalled vote's signature, or its absence, now (``check_signed``)."""
    refusal, proof = signature_refusal(
        identity_config(app),
        input.request,
        input.action,
        actor=input.actor,
        comment=input.comment,
        envelope=input.envelope,
        signature=input.signature,
        now=datetime.now(UTC),
    )
    return VerifyVoteResult(refusal=refusal, proof=proof)


def verify_submit(app: MutationApp, input: VerifySubmitInput) -> VerifyVoteResult:
    """Check a submit's signature, or its absence, as ``check_submission`` does."""
    refusal, proof = _submit_signature(
        app, input.request, input.envelope, input.signature, input.submitted_at
    )
    return VerifyVoteResult(refusal=refusal, proof=proof)


def _submit_signature(
    app: MutationApp,
    req: MutationRequest,
    envelope: dict[str, Any] | None,
    signature: str | None,
    now: datetime,
) -> tuple[str | None, SignedProof | None]:
    """The submit's signature checked: action submit, by the requester, for its reason."""
    return signature_refusal(
        identity_config(app),
        req,
        "submit",
        actor=req.requester,
        comment=req.reason,
        envelope=envelope,
        signature=signature,
        now=now,
    )


def submit_refusal(
    app: MutationApp,
    req: MutationRequest,
    envelope: dict[str, Any] | None,
    signature: str | None,
    submitted_at: datetime | None,
) -> str | None:
    """Why the submit's signature is refused (as ``check_submission`` checks it); None: not."""
    refusal, _ = _submit_signature(app, req, envelope, signature, submitted_at or datetime.now(UTC))
    return refusal


def check_submission(
    app: MutationApp, input: EvaluateInput
) -> tuple[EvaluateInput, EvaluateResult | None]:
    """Check the submit's signature before anything is evaluated or executed.

    Checked when the app is ``signed`` or the submit carries a signature (action
    ``submit``, actor the requester, comment the reason, base version the expected one).
    ``issued_at`` is checked against when Temporal accepted the submit (the real clock if
    that is unknown), so a submit that waited for a worker is not refused for the wait.

    Returns:
        The input to evaluate, its request's ``submitted`` decision carrying the proof when
        signed; and the refusal to return instead, when the signature is refused.
    """
    if not input.check_submit:
        return input, None
    req = input.request
    refusal, proof = _submit_signature(
        app, req, input.envelope, input.signature, input.submitted_at or datetime.now(UTC)
    )
    if refusal is not None:
        return input, EvaluateResult(
            outcome=EvaluationOutcome.SIGNATURE_REFUSED, reason=refusal, state_version=0
        )
    if proof is None:
        return input, None
    signed = req.model_copy(deep=True)
    lifecycle.sign_submission(signed, proof)
    return input.model_copy(update={"request": signed}), None
