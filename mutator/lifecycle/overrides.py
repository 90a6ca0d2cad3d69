"""The override gate (a policy's soft ``Deny``) and advisory warnings.

The evaluation's soft denials become the request's ``required_overrides``, each with its
deadline and a waiting ``override`` gate named by its policy (``require_overrides``); the
request waits ``pending`` for them, its checks and its approvals at the same time. An
override (``override``) by someone eligible for a waiting soft denial (a holder of one of its
``override_roles``, never the requester), with a reason, passes every waiting override gate
that person is eligible for and writes one ``approval``/``overridden`` decision (signed in
signed mode, action ``override``). When every gate is met, ``checks.gates_complete`` approves
the request; a deadline that passes expires it. Advisory denials and policies that failed
open are ``warned`` decisions (``record_warnings``), blocking nothing. Pure: the caller passes
the time in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mutator.decisions import DecisionCode, SystemActor
from mutator.gates import Gate, GateKind, GateStatus, replaced_in_place, with_gate
from mutator.lifecycle.check_state import override_status, waiting_overrides
from mutator.lifecycle.machine import Effect, Recorder, VoteRefused
from mutator.lifecycle.votes import STILL_EVALUATING, signed_vote_refusal
from mutator.models import DecisionCategory, MutationRequest, RequestStatus, SignedProof
from mutator.overrides import OverrideInput, OverrideRequirement, PolicyWarning, warning_text


def record_warnings(recorder: Recorder, warnings: Sequence[PolicyWarning]) -> None:
    """One ``warned`` decision by ``policy`` per warning, naming its policy and reason."""
    for warning in warnings:
        recorder.decide(
            DecisionCategory.LIFECYCLE,
            DecisionCode.WARNED,
            SystemActor.POLICY,
            warning_text(warning),
        )


def require_overrides(
    request: MutationRequest, overrides: Sequence[OverrideRequirement], now: datetime
) -> str:
    """Add the soft denials not overridden already, each with its deadline and waiting gate.

    A policy whose override gate passed already (an earlier evaluation, overridden) keeps
    it: an override stands for its policy.

    Returns:
        The wait in words, for the ``pending`` decision (``override of freeze_policy``);
        empty when every one was overridden already.
    """
    added = []
    for override in overrides:
        if override_status(request, override.policy) == GateStatus.PASSED:
            continue
        deadline = now + timedelta(seconds=override.timeout_seconds)
        kept = [o for o in request.required_overrides if o.policy != override.policy]
        request.required_overrides = [*kept, override.model_copy(update={"deadline": deadline})]
        who = ", ".join(override.eligible)
        detail = (
            f"soft deny: {override.reason}; waiting for an override until "
            f"{deadline.isoformat()} (eligible: {who})"
        )
        request.gates = with_gate(
            request.gates, Gate(kind=GateKind.OVERRIDE, name=override.policy, detail=detail)
        )
        added.append(override.policy)
    return "override of " + ", ".join(added) if added else ""


def _eligible_waiting(request: MutationRequest, actor: str) -> list[OverrideRequirement]:
    return [o for o in waiting_overrides(request) if actor in o.eligible]


def override_refusal(
    request: MutationRequest,
    override: OverrideInput,
    *,
    admitted: bool,
    proof: SignedProof | None = None,
) -> str | None:
    """Why ``override`` is refused now, or None when it is accepted.

    Refused: before the evaluation ended; an empty actor or reason; a request with no soft
    denial waiting, or no longer ``pending``; the requester; anyone eligible for none of the
    waiting soft denials; a signature that no longer fits (``signed_vote_refusal``).
    """
    if not admitted:
        return STILL_EVALUATING
    if not override.actor.strip():
        return "actor must not be empty: say who overrides"
    if not override.reason.strip():
        return "reason must not be empty: say why the soft deny is overridden"
    if request.status != RequestStatus.PENDING:
        return f"request {request.request_id} is {request.status.value}; it waits for no override"
    waiting = waiting_overrides(request)
    if not waiting:
        return f"request {request.request_id} waits for no override (no soft deny is outstanding)"
    if override.actor == request.requester:
        return f"{override.actor} is the requester: a soft deny is overridden by someone else"
    if not _eligible_waiting(request, override.actor):
        eligible = ", ".join(f"{o.policy}: {', '.join(o.eligible)}" for o in waiting)
        return f"{override.actor} may not override this request's soft deny (eligible: {eligible})"
    return signed_vote_refusal(request, proof)


def override(
    request: MutationRequest,
    given: OverrideInput,
    now: datetime,
    *,
    admitted: bool = True,
    proof: SignedProof | None = None,
) -> Effect:
    """Override every waiting soft deny the actor is eligible for: one ``overridden`` decision.

    The decision (category ``approval``) is by the actor, its reason theirs (what a signed
    override signs), with the proof when signed. The status stays ``pending``:
    ``gates_complete`` moves it once every gate is met.

    Raises:
        VoteRefused: ``override_refusal`` refuses it.
    """
    refusal = override_refusal(request, given, admitted=admitted, proof=proof)
    if refusal:
        raise VoteRefused(refusal)
    recorder = Recorder(request, now)
    for soft in _eligible_waiting(request, given.actor):
        passed = Gate(
            kind=GateKind.OVERRIDE,
            name=soft.policy,
            status=GateStatus.PASSED,
            detail=f"soft deny ({soft.reason}) overridden by {given.actor}: {given.reason}",
        )
        request.gates = replaced_in_place(request.gates, passed)
    recorder.decide(
        DecisionCategory.APPROVAL, DecisionCode.OVERRIDDEN, given.actor, given.reason, proof=proof
    )
    return recorder.effect()


__all__ = [
    "override",
    "override_refusal",
    "record_warnings",
    "require_overrides",
]
