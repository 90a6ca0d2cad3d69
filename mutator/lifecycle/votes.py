"""What approve, reject and cancel do to a request, when they are refused, and expiry.

The quorum arithmetic is ``mutator.approvals``'; this module applies it to a request.
"""

from __future__ import annotations

from datetime import datetime

from mutator import approvals as rules
from mutator.contracts import ApproveInput, CancelInput, RejectInput
from mutator.decisions import DecisionCode, SystemActor
from mutator.identity.requests import used_nonces
from mutator.lifecycle.check_state import EXPIRED_REASON as EXPIRED_REASON
from mutator.lifecycle.check_state import checks_passed, expiry_reason, gates_met
from mutator.lifecycle.machine import Effect, IllegalTransition, Recorder, VoteRefused
from mutator.models import (
    Approval,
    DecisionCategory,
    MutationRequest,
    RejectionCode,
    RequestStatus,
    SignedProof,
)

# A refused signal is recorded as a decision, but only this many: a flood of them must not
# grow the record (and every save and execution that carries it) without bound.
MAX_REFUSED_ATTEMPTS_KEPT = 20

STILL_EVALUATING = "the request is still being evaluated; try again in a moment"


def quorum_met(request: MutationRequest) -> bool:
    """Whether the approvals meet every requirement (``mutator.approvals.quorum_met``)."""
    return rules.quorum_met(request.required_approvals, request.requester, request.approvals)


def progress(request: MutationRequest) -> str:
    """The approval progress, as the ``pending`` and ``approved`` decisions say it."""
    return rules.describe_progress(request.required_approvals, request.requester, request.approvals)


def _closed_refusal(request: MutationRequest, admitted: bool) -> str | None:
    if not admitted:
        return STILL_EVALUATING
    if request.status != RequestStatus.PENDING:
        return f"request {request.request_id} is {request.status.value}; it no longer takes votes"
    return None


def signed_vote_refusal(request: MutationRequest, proof: SignedProof | None) -> str | None:
    """Why a vote's verified signature no longer fits the request, or None.

    The signature was verified against the request as it stood; by the time the vote is
    recorded another signed decision may have used its nonce, or the approvals may have been
    cleared against a new base version. Pure: the workflow re-checks this when it records.
    """
    if proof is None:
        return None
    nonce = proof.envelope.get("nonce")
    if nonce in used_nonces(request):
        return (
            f"signature refused (replayed_nonce): envelope nonce {nonce} was already used for "
            f"request {request.request_id}: this is a replay; sign a new envelope"
        )
    signed_base = proof.envelope.get("base_version")
    if signed_base != request.base_version:
        return (
            f"signature refused (envelope_mismatch): envelope base_version is {signed_base!r} "
            f"but the request's is {request.base_version!r}: sign again against the request "
            "as it stands"
        )
    return None


def approve_refusal(
    request: MutationRequest,
    vote: ApproveInput,
    *,
    admitted: bool,
    proof: SignedProof | None = None,
) -> str | None:
    """Why ``vote`` may not approve now, or None when it is accepted.

    ``admitted``: the request's evaluation has ended; until then every vote is refused.
    ``proof``: the vote's verified signature, if it is signed (``signed_vote_refusal``).
    """
    return (
        _closed_refusal(request, admitted)
        or rules.refuse_approval(
            request.required_approvals, request.requester, request.approvals, vote.actor
        )
        or signed_vote_refusal(request, proof)
    )


def reject_refusal(
    request: MutationRequest,
    vote: RejectInput,
    *,
    admitted: bool,
    proof: SignedProof | None = None,
) -> str | None:
    """Why ``vote`` may not reject now, or None when it is accepted."""
    if not vote.reason.strip():
        return "reason must not be empty: say why the request is rejected"
    return (
        _closed_refusal(request, admitted)
        or rules.refuse_rejection(request.required_approvals, vote.actor)
        or signed_vote_refusal(request, proof)
    )


def cancel_refusal(
    request: MutationRequest,
    vote: CancelInput,
    *,
    admitted: bool,
    proof: SignedProof | None = None,
) -> str | None:
    """Why ``vote`` may not cancel now, or None when it is accepted."""
    if admitted and request.status != RequestStatus.PENDING:
        status = request.status.value
        return f"request {request.request_id} is {status}; it can no longer be canceled"
    return (
        _closed_refusal(request, admitted)
        or rules.refuse_cancel(request.required_approvals, request.requester, vote.actor)
        or signed_vote_refusal(request, proof)
    )


def _raise_if(refusal: str | None) -> None:
    if refusal:
        raise VoteRefused(refusal)


def approve(
    request: MutationRequest,
    vote: ApproveInput,
    now: datetime,
    *,
    admitted: bool = True,
    proof: SignedProof | None = None,
) -> Effect:
    """Add the vote: one ``approval``/``approved`` decision; the status stays ``pending``.

    The quorum, once met, is acted on by ``approvals_complete``. ``proof``: the vote's
    verified signature, stored on its decision.

    Raises:
        VoteRefused: ``approve_refusal`` refuses the vote.
    """
    _raise_if(approve_refusal(request, vote, admitted=admitted, proof=proof))
    request.approvals.append(Approval(actor=vote.actor, comment=vote.comment, at=now))
    recorder = Recorder(request, now)
    recorder.decide(
        DecisionCategory.APPROVAL, DecisionCode.APPROVED, vote.actor, vote.comment, proof=proof
    )
    return recorder.effect()


def reject_vote(
    request: MutationRequest,
    vote: RejectInput,
    now: datetime,
    *,
    admitted: bool = True,
    proof: SignedProof | None = None,
) -> Effect:
    """Reject by an approver: ``approval``/``rejected``, then ``rejected:approver_rejected``.

    ``proof``, the vote's verified signature, is stored on the ``approval``/``rejected``
    decision.

    Raises:
        VoteRefused: ``reject_refusal`` refuses the vote.
    """
    _raise_if(reject_refusal(request, vote, admitted=admitted, proof=proof))
    recorder = Recorder(request, now)
    recorder.decide(
        DecisionCategory.APPROVAL, DecisionCode.REJECTED, vote.actor, vote.reason, proof=proof
    )
    recorder.reject(RejectionCode.APPROVER_REJECTED, vote.reason, vote.actor)
    return recorder.effect()


def cancel(
    request: MutationRequest,
    vote: CancelInput,
    now: datetime,
    *,
    admitted: bool = True,
    proof: SignedProof | None = None,
) -> Effect:
    """Cancel by the requester or an eligible approver: one ``canceled`` decision.

    ``proof``, the cancel's verified signature, is stored on that decision.

    Raises:
        VoteRefused: ``cancel_refusal`` refuses it.
    """
    _raise_if(cancel_refusal(request, vote, admitted=admitted, proof=proof))
    recorder = Recorder(request, now)
    recorder.move(
        RequestStatus.CANCELED, None, DecisionCode.CANCELED, vote.actor, vote.reason, proof=proof
    )
    return recorder.effect()


def refused_attempt(request: MutationRequest, actor: str, reason: str, now: datetime) -> Effect:
    """Record a refused signal, within the cap.

    A ``refused_attempt`` decision while fewer than the cap are kept, then one
    ``refused_attempts_capped``; after that it is only counted (no decision).
    """
    recorder = Recorder(request, now)
    kept = sum(1 for d in request.decisions if d.code == DecisionCode.REFUSED_ATTEMPT)
    if kept < MAX_REFUSED_ATTEMPTS_KEPT:
        recorder.decide(DecisionCategory.APPROVAL, DecisionCode.REFUSED_ATTEMPT, actor, reason)
        return recorder.effect()
    request.refused_attempts_not_recorded += 1
    if request.refused_attempts_not_recorded == 1:
        recorder.decide(
            DecisionCategory.APPROVAL,
            DecisionCode.REFUSED_ATTEMPTS_CAPPED,
            SystemActor.SYSTEM,
            f"{MAX_REFUSED_ATTEMPTS_KEPT} refused attempts are recorded; later ones are "
            "only counted (refused_attempts_not_recorded)",
        )
    return recorder.effect()


def approvals_complete(request: MutationRequest, now: datetime) -> Effect:
    """The quorum is met: ``approved`` by ``approvers``; nothing if no longer ``pending``.

    Raises:
        IllegalTransition: the request is pending and its quorum is not met.
    """
    recorder = Recorder(request, now)
    if request.status != RequestStatus.PENDING:
        return recorder.effect()
    if not quorum_met(request):
        raise IllegalTransition(request, "be approved without its quorum")
    if not checks_passed(request):  # checks.gates_complete approves a request with checks
        raise IllegalTransition(request, "be approved before its checks passed")
    reason = progress(request)
    recorder.move(
        RequestStatus.APPROVED, None, DecisionCode.APPROVED, SystemActor.APPROVERS, reason
    )
    return recorder.effect()


def deadline_passed(request: MutationRequest, now: datetime) -> Effect:
    """The deadline fired: ``expired`` if still pending with a gate not met, else nothing.

    The gate deadline (``check_state.gate_deadline``) is the first of the approvals' deadline
    and each waiting check's; the reason says which ran out (``expiry_reason``).
    """
    recorder = Recorder(request, now)
    if request.status == RequestStatus.PENDING and not gates_met(request):
        recorder.move(
            RequestStatus.EXPIRED,
            None,
            DecisionCode.EXPIRED,
            SystemActor.SYSTEM,
            expiry_reason(request),
        )
    return recorder.effect()
