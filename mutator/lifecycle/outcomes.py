"""What evaluations, version resolution and executions do to a request.

Submission, the policies' outcome, the stale strategies (``on_stale``) and a failed or
refused execution: each is one function that records its decisions and says what follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mutator import diffs
from mutator.contracts import (
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    EvaluateResult,
)
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.lane_contracts import ERR_QUOTA_EXCEEDED, ERR_SCHEDULE_CLOSED, LaneOutcome
from mutator.lifecycle.checks import require_checks
from mutator.lifecycle.machine import (
    Effect,
    IllegalTransition,
    Recorder,
    Reevaluate,
    ResolveStale,
    require,
)
from mutator.lifecycle.overrides import record_warnings, require_overrides
from mutator.lifecycle.quota import quota_exceeded
from mutator.lifecycle.schedule import wait_for_schedule
from mutator.lifecycle.votes import progress, quorum_met
from mutator.models import (
    DecisionCategory,
    ItemOutcome,
    MutationRequest,
    OnStale,
    PendingReason,
    RejectionCode,
    RequestStatus,
    SignedProof,
)

ALLOWED_REASON = "allowed by policy"


def submit(request: MutationRequest, now: datetime) -> Effect:
    """The submission: one ``submitted`` decision by the requester, with their reason.

    With break-glass, a second one: ``break_glass`` (approval) by the requester, with the reason.
    """
    recorder = Recorder(request, now)
    recorder.decide(
        DecisionCategory.LIFECYCLE, DecisionCode.SUBMITTED, request.requester, request.reason
    )
    if request.break_glass:
        recorder.decide(
            DecisionCategory.APPROVAL, DecisionCode.BREAK_GLASS, request.requester, request.reason
        )
    return recorder.effect()


def sign_submission(request: MutationRequest, proof: SignedProof) -> None:
    """Store the submit's verified signature on the request's ``submitted`` decision."""
    for decision in request.decisions:
        if decision.code == DecisionCode.SUBMITTED:
            decision.proof = proof
            return
    raise IllegalTransition(request, "sign a submission it does not record")


_REFUSALS = {
    EvaluationOutcome.DENY: RejectionCode.POLICY_DENIED,
    EvaluationOutcome.INVALID: RejectionCode.VALIDATION_FAILED,
    EvaluationOutcome.SIGNATURE_REFUSED: RejectionCode.SIGNATURE_REFUSED,
}


def _await_votes(recorder: Recorder, reason: PendingReason, also: str = "") -> None:
    request = recorder.request
    timeout = min(r.timeout_seconds for r in request.required_approvals)
    request.deadline = recorder.now + timedelta(seconds=timeout)
    said = progress(request) + (f"; {also}" if also else "")
    recorder.move(RequestStatus.PENDING, reason, DecisionCode.PENDING, SystemActor.POLICY, said)


def _await_gates(recorder: Recorder, evaluation: EvaluateResult, votes: PendingReason) -> None:
    """``pending`` for the evaluation's checks, overrides and approvals, all at once.

    With approvals: their deadline, and ``votes`` as the reason until ``sync_gates`` points
    it at the first outstanding gate; else the checks' and overrides' own deadlines.
    """
    request, now = recorder.request, recorder.now
    waits = []
    if evaluation.checks:
        waits.append(require_checks(request, evaluation.checks, now))
    waits.append(require_overrides(request, evaluation.overrides, now))
    also = "; ".join(w for w in waits if w)
    if request.required_approvals:
        _await_votes(recorder, votes, also)
        return
    first = PendingReason.EXTERNAL_CHECK if evaluation.checks else PendingReason.OVERRIDE
    recorder.move(
        RequestStatus.PENDING, first, DecisionCode.PENDING, SystemActor.POLICY, f"waits for {also}"
    )


def _refuse(recorder: Recorder, evaluation: EvaluateResult) -> None:
    for item in recorder.request.items:
        item.outcome = ItemOutcome.NOT_RUN
        item.reason = f"not run: the request was refused ({evaluation.outcome})"
    recorder.reject(_REFUSALS[evaluation.outcome], evaluation.reason)


def admit(request: MutationRequest, evaluation: EvaluateResult, now: datetime) -> Effect:
    """Apply the first evaluation: one transition, to ``rejected``, ``pending`` or ``approved``.

    Deny: ``rejected:policy_denied``; invalid: ``rejected:validation_failed``; the submit's
    signature refused: ``rejected:signature_refused`` (a refused batch's items are marked not
    run); approvals required: ``pending`` (approval) until now plus the shortest requirement
    timeout, with the versions seen at submission as the base; allowed: ``approved`` by
    ``policy``. The submit's verified signature (``evaluation.proof``) goes onto the
    ``submitted`` decision.

    Raises:
        IllegalTransition: the request is not a submitted one (``pending``, no reason yet).
    """
    if request.pending_reason is not None:
        raise IllegalTransition(request, "be admitted twice")
    require(request, (RequestStatus.PENDING,), "be admitted")
    if evaluation.proof is not None:
        sign_submission(request, evaluation.proof)
    recorder = Recorder(request, now)
    record_warnings(recorder, evaluation.warnings)
    if evaluation.outcome in _REFUSALS:
        _refuse(recorder, evaluation)
    elif evaluation.outcome == EvaluationOutcome.REQUIRE_APPROVALS:
        request.required_approvals = evaluation.requirements
        # What approvers approve: the handler's change of the state as evaluated.
        request.planned_diff = evaluation.planned_diff
        for item, version in zip(request.items, evaluation.item_versions, strict=False):
            if item.base_version is None:
                item.base_version = version
        if request.base_version is None and not request.items:
            # Approvers judge the state as it was at submission: that is the base.
            request.base_version = evaluation.state_version
        _await_gates(recorder, evaluation, PendingReason.APPROVAL)
    else:
        recorder.move(
            RequestStatus.APPROVED, None, DecisionCode.APPROVED, SystemActor.POLICY, ALLOWED_REASON
        )
    return recorder.effect()


def evaluation_error(
    request: MutationRequest, error_type: str | None, message: str, now: datetime
) -> Effect:
    """The evaluation activity failed for good: one transition.

    An unknown mutation is ``rejected:validation_failed``; anything else (a policy raised)
    is ``failed``.

    Raises:
        IllegalTransition: the request is already final.
    """
    recorder = Recorder(request, now)
    if error_type == ERR_UNKNOWN_MUTATION:
        recorder.reject(RejectionCode.VALIDATION_FAILED, message)
    else:
        recorder.fail(message)
    return recorder.effect()


def execution_refused(
    request: MutationRequest, outcome: LaneOutcome, now: datetime, *, via_lane: bool
) -> Effect:
    """An execution that did not apply the change.

    ``via_lane``: it ran in its turn on the lane, which writes ``lane_acquired`` first.
    A closed schedule makes it ``pending`` (schedule) until it opens (``wait_for_schedule``);
    a full quota makes it ``pending`` (quota) until a slot frees, or rejects it
    (``quota_exceeded``).
    A compare-and-set conflict writes ``conflict`` and asks for ``ResolveStale``; a validator's
    refusal or an unknown mutation rejects (``validation_failed``); anything else fails.

    Raises:
        IllegalTransition: the request is not ``approved``.
    """
    require(request, (RequestStatus.APPROVED,), "record an execution")
    recorder = Recorder(request, now)
    if via_lane:
        recorder.decide(
            DecisionCategory.LIFECYCLE,
            DecisionCode.LANE_ACQUIRED,
            SystemActor.SYSTEM,
            f"fencing token {outcome.token}",
        )
    if outcome.error_type == ERR_VERSION_CONFLICT and outcome.current_version is not None:
        recorder.decide(
            DecisionCategory.VERSION_RESOLUTION,
            DecisionCode.CONFLICT,
            SystemActor.SYSTEM,
            outcome.error,
        )
        return recorder.effect(ResolveStale(outcome.current_version))
    if outcome.error_type == ERR_SCHEDULE_CLOSED and outcome.schedule is not None:
        wait_for_schedule(recorder, outcome.schedule)
        return recorder.effect()
    if outcome.error_type == ERR_QUOTA_EXCEEDED and outcome.quota is not None:
        quota_exceeded(recorder, outcome.quota)
        return recorder.effect()
    if outcome.error_type in (ERR_VALIDATION, ERR_UNKNOWN_MUTATION):
        recorder.reject(RejectionCode.VALIDATION_FAILED, outcome.error)
    else:
        recorder.fail(outcome.error)
    return recorder.effect()


def stale(request: MutationRequest, strategy: OnStale, current: int, now: datetime) -> Effect:
    """The state moved from the base version to ``current``: ``stale``, then ``strategy``.

    reject: ``rejected:stale``. reapprove: approvals cleared, ``approvals_reset``, ``pending``
    (approval) against ``current`` with a new deadline; a request allowed at once has nobody
    to ask again, so it is rejected. revalidate: the base becomes ``current``, and the
    effect asks for ``Reevaluate`` (then ``revalidated`` applies the evaluation).
    reapprove_if_changed: like revalidate, then ``approval_kept_if_unchanged`` applies the
    evaluation; allowed at once, it is rejected like reapprove.

    Raises:
        IllegalTransition: the request is not ``approved`` (only its turn finds it stale).
    """
    require(request, (RequestStatus.APPROVED,), "resolve a stale version")
    recorder = Recorder(request, now)
    reason = f"base version {request.base_version}, state is at version {current}"
    recorder.decide(
        DecisionCategory.VERSION_RESOLUTION, DecisionCode.STALE, SystemActor.SYSTEM, reason
    )
    if strategy in ("reapprove", "reapprove_if_changed") and not request.required_approvals:
        # Allowed at once, stale against its --expected-version: nobody to ask again.
        recorder.reject(RejectionCode.STALE, f"{reason}; no approvals to renew")
    elif strategy == "reapprove":
        request.approvals = []
        request.base_version = current
        recorder.decide(
            DecisionCategory.APPROVAL,
            DecisionCode.APPROVALS_RESET,
            SystemActor.SYSTEM,
            f"re-approval needed against version {current}",
        )
        _await_votes(recorder, PendingReason.APPROVAL)
    elif strategy in ("revalidate", "reapprove_if_changed"):
        request.base_version = current
        return recorder.effect(Reevaluate(current))
    else:
        recorder.reject(RejectionCode.STALE, reason)
    return recorder.effect()


def revalidated(
    request: MutationRequest, evaluation: EvaluateResult, current: int, now: datetime
) -> Effect:
    """Apply the evaluation on the latest state (``on_stale="revalidate"``).

    Deny or invalid: rejected, as at admission. Allowed, or approvals required and the
    approvals given still meet them: ``revalidated`` and the request stays ``approved``.
    Approvals required and not met: ``pending`` (revalidation) with a new deadline.

    Raises:
        IllegalTransition: the request is not ``approved``.
    """
    require(request, (RequestStatus.APPROVED,), "be revalidated")
    recorder = Recorder(request, now)
    record_warnings(recorder, evaluation.warnings)
    if evaluation.outcome in _REFUSALS:
        _refuse(recorder, evaluation)
        return recorder.effect()
    # The change on the latest state (None when allowed: its execution records it).
    request.planned_diff = evaluation.planned_diff
    return _evaluated_again(
        recorder,
        evaluation,
        DecisionCode.REVALIDATED,
        f"policies and validators pass on version {current}",
        waiting=PendingReason.REVALIDATION,
    )


def _evaluated_again(
    recorder: Recorder,
    evaluation: EvaluateResult,
    code: DecisionCode,
    reason: str,
    *,
    waiting: PendingReason,
) -> Effect:
    """Approved again with ``code``; or ``pending`` when short of votes or overrides.

    Approvals required: the (new) requirements and soft denies apply; votes short of them
    wait again as ``pending`` (``waiting``) with a new deadline, soft denies alone as
    ``pending`` (override).
    """
    request = recorder.request
    if evaluation.outcome == EvaluationOutcome.REQUIRE_APPROVALS:
        request.required_approvals = evaluation.requirements
        new_soft = require_overrides(request, evaluation.overrides, recorder.now)
        if new_soft and not request.required_approvals:
            recorder.move(
                RequestStatus.PENDING,
                PendingReason.OVERRIDE,
                DecisionCode.PENDING,
                SystemActor.POLICY,
                f"waits for {new_soft}",
            )
            return recorder.effect()
        if new_soft or not quorum_met(request):
            _await_votes(recorder, waiting, new_soft)
            return recorder.effect()
    recorder.decide(DecisionCategory.VERSION_RESOLUTION, code, SystemActor.SYSTEM, reason)
    return recorder.effect()


def approval_kept_if_unchanged(
    request: MutationRequest, evaluation: EvaluateResult, current: int, now: datetime
) -> Effect:
    """Apply the evaluation on the latest state (``on_stale="reapprove_if_changed"``).

    Deny or invalid: rejected, as at admission. Approvals required and the handler's change
    on ``current`` is the approved one (``mutator.diffs.same_change``): ``approval_kept``
    with both versions, and the request stays ``approved`` (if the policies now require
    more than the approvals given: ``pending`` (revalidation), as revalidate). A different
    change: approvals cleared, ``approvals_reset``, ``pending`` (approval) against
    ``current``, as reapprove. Allowed (the policies no longer ask for approvals):
    ``revalidated``, as revalidate.

    Raises:
        IllegalTransition: the request is not ``approved``.
    """
    require(request, (RequestStatus.APPROVED,), "keep its approvals")
    if evaluation.outcome != EvaluationOutcome.REQUIRE_APPROVALS:
        return revalidated(request, evaluation, current, now)
    recorder = Recorder(request, now)
    record_warnings(recorder, evaluation.warnings)
    approved, latest = request.planned_diff, evaluation.planned_diff
    approved_on = f"version {approved.version}" if approved else "an unrecorded version"
    request.planned_diff = latest
    if diffs.same_change(approved, latest):
        return _evaluated_again(
            recorder,
            evaluation,
            DecisionCode.APPROVAL_KEPT,
            f"the change on version {current} is the one approved on {approved_on}: "
            "the approvals stand",
            waiting=PendingReason.REVALIDATION,
        )
    request.approvals = []
    recorder.decide(
        DecisionCategory.APPROVAL,
        DecisionCode.APPROVALS_RESET,
        SystemActor.SYSTEM,
        f"the change on version {current} differs from the one approved on {approved_on}; "
        f"re-approval needed against version {current}",
    )
    return _evaluated_again(
        recorder,
        evaluation,
        DecisionCode.REVALIDATED,
        f"policies and validators pass on version {current}",
        waiting=PendingReason.APPROVAL,
    )
