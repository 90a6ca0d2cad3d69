"""The lifecycle core, step by step: every arrow of docs/lifecycle.md's diagram, every stale
strategy, every refusal, and the decisions each writes. No server, no store: milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mutator import lifecycle
from mutator.contracts import (
    ERR_HANDLER_TIMEOUT,
    ERR_MUTATION_FAILED,
    ERR_POLICY_FAILED,
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    CancelInput,
    EvaluateResult,
    RejectInput,
)
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.models import (
    TERMINAL_STATUSES,
    ItemOutcome,
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
)
from tests.helpers.lifecycle import (
    ONE_LEAD,
    REQUESTER,
    TWO_OF_THREE,
    approve_input,
    approved_by_policy,
    approved_by_votes,
    at,
    codes,
    evaluation,
    lane_outcome,
    pending,
    submitted,
)

# -- evaluation ---------------------------------------------------------------------------


def test_submit_records_the_requester_and_reason() -> None:
    request = submitted()
    assert request.status == RequestStatus.PENDING
    assert request.pending_reason is None
    assert codes(request) == ["lifecycle/submitted"]
    assert (request.decisions[0].actor, request.decisions[0].reason) == (
        REQUESTER,
        "monthly top-up",
    )


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (EvaluationOutcome.INVALID, RejectionCode.VALIDATION_FAILED),
        (EvaluationOutcome.DENY, RejectionCode.POLICY_DENIED),
    ],
)
def test_a_refused_evaluation_rejects(outcome: EvaluationOutcome, code: RejectionCode) -> None:
    request = submitted()
    effect = lifecycle.admit(request, evaluation(outcome, reason="no"), at(1))
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert (request.rejection.code, request.rejection.reason, request.rejection.actor) == (
        code,
        "no",
        SystemActor.SYSTEM,
    )
    assert effect.transition is not None
    assert effect.transition.decision.code == f"rejected:{code.value}"
    assert len(effect.decisions) == 1


def test_a_refused_batch_marks_its_items_not_run() -> None:
    request = submitted(batch=True)
    lifecycle.admit(request, evaluation(EvaluationOutcome.DENY, reason="no"), at(1))
    assert [i.outcome for i in request.items] == [ItemOutcome.NOT_RUN] * 2
    assert request.items[0].reason == "not run: the request was refused (deny)"


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        (ERR_POLICY_FAILED, RequestStatus.FAILED),
        (None, RequestStatus.FAILED),
        (ERR_UNKNOWN_MUTATION, RequestStatus.REJECTED),
    ],
)
def test_an_evaluation_that_raises(error_type: str | None, status: RequestStatus) -> None:
    request = submitted()
    effect = lifecycle.evaluation_error(request, error_type, "policy evaluation raised", at(1))
    assert request.status == status
    assert len(effect.decisions) == 1
    if status == RequestStatus.FAILED:
        assert request.error == "policy evaluation raised"
    else:
        assert codes(request)[-1] == "lifecycle/rejected:validation_failed"


def test_allowed_by_policy_is_approved() -> None:
    request = approved_by_policy()
    assert request.status == RequestStatus.APPROVED
    last = request.decisions[-1]
    assert (last.code, last.actor, last.reason) == (
        DecisionCode.APPROVED,
        SystemActor.POLICY,
        "allowed by policy",
    )
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=False)


def test_require_approvals_is_pending_until_the_shortest_timeout() -> None:
    request = pending(TWO_OF_THREE, ONE_LEAD)
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.APPROVAL,
    )
    assert request.deadline == at(1 + 600)
    assert request.base_version == 4  # approvers judge the state as submitted
    assert request.decisions[-1].actor == SystemActor.POLICY
    assert request.decisions[-1].reason == (
        "two_of_three: 0 of 2 approvals (eligible: alice, bob, carol); "
        "lead: 0 of 1 approvals (eligible: erin)"
    )
    assert lifecycle.next_step(request) == lifecycle.AwaitApprovals(at(601))


def test_require_approvals_keeps_an_expected_version_as_the_base() -> None:
    request = submitted(expected_version=2)
    lifecycle.admit(
        request,
        evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[TWO_OF_THREE]),
        at(1),
    )
    assert request.base_version == 2


def test_a_batch_takes_its_items_versions_as_their_bases() -> None:
    request = submitted(batch=True)
    lifecycle.admit(
        request,
        evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[TWO_OF_THREE]),
        at(1),
    )
    assert [i.base_version for i in request.items] == [7, 3]
    assert request.base_version is None


def test_a_request_is_admitted_once() -> None:
    request = pending()
    with pytest.raises(lifecycle.IllegalTransition, match="admitted twice"):
        lifecycle.admit(request, evaluation(EvaluationOutcome.ALLOW), at(2))


# -- votes --------------------------------------------------------------------------------


def test_every_requirement_met_approves() -> None:
    request = pending()
    first = lifecycle.approve(request, approve_input("alice", "fine"), at(2))
    assert first.transition is None
    assert len(first.decisions) == 1
    assert codes(request)[-1] == "approval/approved"
    assert not lifecycle.quorum_met(request)
    lifecycle.approve(request, approve_input("bob"), at(2))
    assert lifecycle.quorum_met(request)
    # Still waiting: the workflow acts on the quorum.
    assert lifecycle.next_step(request) == lifecycle.AwaitApprovals(at(3601))
    effect = lifecycle.approvals_complete(request, at(3))
    assert effect.transition is not None
    assert request.status == RequestStatus.APPROVED
    assert effect.transition.decision.actor == SystemActor.APPROVERS
    assert effect.transition.decision.reason.startswith("two_of_three: 2 of 2 approvals")


def test_approvals_complete_needs_the_quorum() -> None:
    request = pending()
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.approvals_complete(request, at(3))
    assert request.status == RequestStatus.PENDING


def test_an_eligible_approver_rejects() -> None:
    request = pending()
    effect = lifecycle.reject_vote(request, RejectInput(actor="carol", reason="too big"), at(2))
    assert codes(request)[-2:] == ["approval/rejected", "lifecycle/rejected:approver_rejected"]
    assert len(effect.decisions) == 2
    assert request.rejection is not None
    assert (request.rejection.code, request.rejection.actor) == (
        RejectionCode.APPROVER_REJECTED,
        "carol",
    )
    assert lifecycle.next_step(request) == lifecycle.Done(RequestStatus.REJECTED)


@pytest.mark.parametrize("actor", [REQUESTER, "alice"])
def test_the_requester_or_an_approver_cancels(actor: str) -> None:
    request = pending()
    effect = lifecycle.cancel(request, CancelInput(actor=actor, reason="not needed"), at(2))
    assert request.status == RequestStatus.CANCELED
    assert effect.transition is not None
    assert (effect.transition.decision.code, effect.transition.decision.actor) == (
        DecisionCode.CANCELED,
        actor,
    )


def test_the_deadline_expires_a_request_without_its_quorum() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2))
    effect = lifecycle.deadline_passed(request, at(3601))
    assert request.status == RequestStatus.EXPIRED
    assert effect.transition is not None
    assert effect.transition.decision.reason == "no quorum before the deadline"


def test_the_deadline_does_nothing_once_the_quorum_is_met_or_the_request_ended() -> None:
    met = pending()
    for actor in ("alice", "bob"):
        lifecycle.approve(met, approve_input(actor), at(2))
    assert lifecycle.deadline_passed(met, at(3601)) == lifecycle.Effect()
    assert met.status == RequestStatus.PENDING
    canceled = pending()
    lifecycle.cancel(canceled, CancelInput(actor=REQUESTER, reason="x"), at(2))
    assert lifecycle.deadline_passed(canceled, at(3601)) == lifecycle.Effect()
    assert lifecycle.approvals_complete(canceled, at(3601)) == lifecycle.Effect()
    assert canceled.status == RequestStatus.CANCELED


# -- refusals -----------------------------------------------------------------------------

REFUSALS = [
    ("approve", "mallory", "'mallory' is not an eligible approver (eligible: alice, bob, carol)"),
    ("approve", "", "actor must not be empty"),
    ("reject", "mallory", "'mallory' is not an eligible approver and cannot reject this request"),
    ("cancel", "mallory", "'mallory' is neither the requester nor an eligible approver"),
]


def _vote(request: MutationRequest, kind: str, actor: str, *, admitted: bool = True) -> None:
    if kind == "approve":
        lifecycle.approve(request, approve_input(actor), at(2), admitted=admitted)
    elif kind == "reject":
        lifecycle.reject_vote(
            request, RejectInput(actor=actor, reason="r"), at(2), admitted=admitted
        )
    else:
        lifecycle.cancel(request, CancelInput(actor=actor, reason="r"), at(2), admitted=admitted)


@pytest.mark.parametrize(("kind", "actor", "refusal"), REFUSALS)
def test_a_refused_vote_changes_nothing(kind: str, actor: str, refusal: str) -> None:
    request = pending()
    before = request.model_copy(deep=True)
    with pytest.raises(lifecycle.VoteRefused, match=re.escape(refusal)):
        _vote(request, kind, actor)
    assert request == before


def test_one_vote_per_approver() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2))
    refusal = lifecycle.approve_refusal(request, approve_input("alice"), admitted=True)
    assert refusal == "'alice' has already approved this request; one vote per approver"


def test_self_approval_is_refused_unless_allowed() -> None:
    mine = TWO_OF_THREE.model_copy(update={"eligible": ["alice", REQUESTER]})
    request = pending(mine)
    refusal = lifecycle.approve_refusal(request, approve_input(REQUESTER), admitted=True)
    assert refusal == (
        f"{REQUESTER!r} requested this change and cannot approve it (self-approval not allowed)"
    )
    allowed = pending(mine.model_copy(update={"allow_self_approval": True}))
    assert lifecycle.approve_refusal(allowed, approve_input(REQUESTER), admitted=True) is None


def test_a_rejection_needs_a_reason() -> None:
    refusal = lifecycle.reject_refusal(
        pending(), RejectInput(actor="alice", reason="  "), admitted=True
    )
    assert refusal == "reason must not be empty: say why the request is rejected"


@pytest.mark.parametrize("kind", ["approve", "reject", "cancel"])
def test_votes_wait_for_the_evaluation(kind: str) -> None:
    with pytest.raises(lifecycle.VoteRefused, match="still being evaluated"):
        _vote(pending(), kind, "alice", admitted=False)


@pytest.mark.parametrize("kind", ["approve", "reject"])
def test_a_vote_after_the_end_is_refused(kind: str) -> None:
    request = approved_by_votes()
    with pytest.raises(lifecycle.VoteRefused, match="is approved; it no longer takes votes"):
        _vote(request, kind, "carol")


def test_cancel_of_a_final_request_is_refused() -> None:
    request = approved_by_votes()
    lifecycle.transition(
        request,
        RequestStatus.EXECUTED,
        None,
        DecisionCode.EXECUTED,
        SystemActor.SYSTEM,
        "",
        at(4),
    )
    with pytest.raises(lifecycle.VoteRefused, match="is executed; it can no longer be canceled"):
        _vote(request, "cancel", REQUESTER)


def test_refused_signals_are_recorded_up_to_the_cap_then_counted() -> None:
    request = pending()
    written = [
        len(lifecycle.refused_attempt(request, "x", "approve: no", at(2)).decisions)
        for _ in range(lifecycle.MAX_REFUSED_ATTEMPTS_KEPT + 3)
    ]
    assert written == [1] * lifecycle.MAX_REFUSED_ATTEMPTS_KEPT + [1, 0, 0]
    assert codes(request)[-1] == "approval/refused_attempts_capped"
    assert request.refused_attempts_not_recorded == 3
    assert request.status == RequestStatus.PENDING


# -- execution ----------------------------------------------------------------------------


def test_executed_directly_from_the_evaluation() -> None:
    request = submitted()
    stored = request.model_copy(deep=True)
    stored.status = RequestStatus.EXECUTED
    lifecycle.refused_attempt(request, "x", "approve: still evaluating", at(1))
    adopted = lifecycle.adopt(request, stored, seen=1)
    assert adopted.status == RequestStatus.EXECUTED
    assert codes(adopted) == ["lifecycle/submitted", "approval/refused_attempt"]


def test_applied_in_its_turn_is_executed() -> None:
    request = approved_by_votes()
    stored = request.model_copy(deep=True)
    stored.status = RequestStatus.EXECUTED
    assert lifecycle.adopt(request, stored, seen=len(request.decisions)).status == (
        RequestStatus.EXECUTED
    )


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        (ERR_VALIDATION, RequestStatus.REJECTED),
        (ERR_UNKNOWN_MUTATION, RequestStatus.REJECTED),
        (ERR_MUTATION_FAILED, RequestStatus.FAILED),
        (ERR_HANDLER_TIMEOUT, RequestStatus.FAILED),
    ],
)
def test_an_execution_that_did_not_apply(error_type: str, status: RequestStatus) -> None:
    request = approved_by_policy()
    effect = lifecycle.execution_refused(
        request, lane_outcome(error_type, "boom"), at(5), via_lane=True
    )
    assert request.status == status
    assert effect.decisions[0].code == DecisionCode.LANE_ACQUIRED
    assert effect.decisions[0].reason == "fencing token 9"
    assert len(effect.decisions) == 2
    assert effect.then is None


def test_a_conflict_asks_for_version_resolution() -> None:
    request = approved_by_policy(expected_version=3)
    effect = lifecycle.execution_refused(
        request, lane_outcome(ERR_VERSION_CONFLICT, "moved", current=5), at(5), via_lane=False
    )
    assert codes(request)[-1] == "version_resolution/conflict"
    assert effect.then == lifecycle.ResolveStale(5)
    assert effect.transition is None
    assert request.status == RequestStatus.APPROVED


def test_a_batch_runs_through_executing() -> None:
    request = submitted(batch=True)
    lifecycle.admit(request, evaluation(EvaluationOutcome.ALLOW), at(1))
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=True)
    lifecycle.transition(
        request,
        RequestStatus.EXECUTING,
        None,
        DecisionCode.EXECUTING,
        SystemActor.SYSTEM,
        "",
        at(2),
    )
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.next_step(request)
    lifecycle.reject(request, RejectionCode.CONFLICT, "item 1 conflict", at(3))
    assert lifecycle.next_step(request) == lifecycle.Done(RequestStatus.REJECTED)


# -- stale strategies ---------------------------------------------------------------------


def test_stale_reject() -> None:
    request = approved_by_votes()
    effect = lifecycle.stale(request, "reject", 6, at(5))
    assert codes(request)[-2:] == ["version_resolution/stale", "lifecycle/rejected:stale"]
    assert request.rejection is not None
    assert request.rejection.reason == "base version 4, state is at version 6"
    assert len(effect.decisions) == 2
    assert effect.then is None


def test_stale_reapprove_asks_again_against_the_current_version() -> None:
    request = approved_by_votes()
    effect = lifecycle.stale(request, "reapprove", 6, at(5))
    assert codes(request)[-3:] == [
        "version_resolution/stale",
        "approval/approvals_reset",
        "lifecycle/pending",
    ]
    assert len(effect.decisions) == 3
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.APPROVAL,
    )
    assert request.approvals == []
    assert request.base_version == 6
    assert request.deadline == at(5 + 3600)
    assert effect.decisions[1].reason == "re-approval needed against version 6"


def test_stale_reapprove_without_approvals_rejects() -> None:
    request = approved_by_policy(expected_version=3)
    lifecycle.stale(request, "reapprove", 6, at(5))
    assert request.rejection is not None
    assert request.rejection.reason == (
        "base version 3, state is at version 6; no approvals to renew"
    )


def test_stale_revalidate_asks_for_a_new_evaluation() -> None:
    request = approved_by_votes()
    effect = lifecycle.stale(request, "revalidate", 6, at(5))
    assert effect.then == lifecycle.Reevaluate(6)
    assert request.base_version == 6
    assert request.status == RequestStatus.APPROVED
    assert len(effect.decisions) == 1


@pytest.mark.parametrize("outcome", [EvaluationOutcome.DENY, EvaluationOutcome.INVALID])
def test_revalidation_refused_rejects(outcome: EvaluationOutcome) -> None:
    request = approved_by_votes()
    lifecycle.stale(request, "revalidate", 6, at(5))
    effect = lifecycle.revalidated(request, evaluation(outcome, reason="no"), 6, at(6))
    assert request.status == RequestStatus.REJECTED
    assert len(effect.decisions) == 1


@pytest.mark.parametrize(
    "result",
    [
        evaluation(EvaluationOutcome.ALLOW),
        evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[TWO_OF_THREE]),
    ],
)
def test_revalidation_passing_stays_approved(result: EvaluateResult) -> None:
    request = approved_by_votes()
    lifecycle.stale(request, "revalidate", 6, at(5))
    effect = lifecycle.revalidated(request, result, 6, at(6))
    assert request.status == RequestStatus.APPROVED
    assert effect.transition is None
    assert codes(request)[-1] == "version_resolution/revalidated"
    assert effect.decisions[0].reason == "policies and validators pass on version 6"
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=False)


def test_revalidation_missing_approvals_is_pending_again() -> None:
    request = approved_by_votes()
    lifecycle.stale(request, "revalidate", 6, at(5))
    more = TWO_OF_THREE.model_copy(update={"count": 3, "timeout_seconds": 60})
    result = evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[more])
    lifecycle.revalidated(request, result, 6, at(6))
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.REVALIDATION,
    )
    assert request.deadline == at(66)
    assert [a.actor for a in request.approvals] == ["alice", "bob"]  # kept


# -- illegal transitions ------------------------------------------------------------------


@pytest.mark.parametrize("final", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize("target", list(RequestStatus))
def test_nothing_leaves_a_final_status(final: RequestStatus, target: RequestStatus) -> None:
    request = pending()
    request.status = final
    before = request.model_copy(deep=True)
    with pytest.raises(lifecycle.IllegalTransition, match=f"is {final.value} \\(a final status\\)"):
        lifecycle.transition(
            request, target, None, DecisionCode.APPROVED, SystemActor.SYSTEM, "", at(9)
        )
    assert request == before
    assert lifecycle.next_step(request) == lifecycle.Done(final)


@pytest.mark.parametrize(
    "step",
    [
        lambda r: lifecycle.stale(r, "reject", 6, at(9)),
        lambda r: lifecycle.stale(r, "reapprove", 6, at(9)),
        lambda r: lifecycle.revalidated(r, evaluation(EvaluationOutcome.ALLOW), 6, at(9)),
        lambda r: lifecycle.execution_refused(r, lane_outcome("x"), at(9), via_lane=True),
        lambda r: lifecycle.evaluation_error(r, None, "x", at(9)),
        lambda r: lifecycle.fail(r, "x", at(9)),
        lambda r: lifecycle.reject(r, RejectionCode.STALE, "x", at(9)),
        lambda r: lifecycle.admit(r, evaluation(EvaluationOutcome.ALLOW), at(9)),
    ],
)
def test_no_step_changes_a_final_request(step: Callable[[MutationRequest], object]) -> None:
    request = approved_by_votes()
    lifecycle.transition(
        request, RequestStatus.EXECUTED, None, DecisionCode.EXECUTED, SystemActor.SYSTEM, "", at(8)
    )
    before = request.model_copy(deep=True)
    with pytest.raises(lifecycle.IllegalTransition):
        step(request)
    assert request == before


def test_a_pending_request_cannot_be_found_stale() -> None:
    with pytest.raises(lifecycle.IllegalTransition, match="cannot resolve a stale version"):
        lifecycle.stale(pending(), "reject", 6, at(5))


def test_adopting_cannot_revive_a_final_request() -> None:
    request = pending()
    lifecycle.cancel(request, CancelInput(actor=REQUESTER, reason="x"), at(2))
    stored = request.model_copy(deep=True)
    stored.status = RequestStatus.EXECUTED
    with pytest.raises(lifecycle.IllegalTransition, match="cannot go to executed"):
        lifecycle.adopt(request, stored, seen=0)


def test_every_status_has_its_transitions() -> None:
    assert set(lifecycle.TRANSITIONS) == set(RequestStatus)
    for status in TERMINAL_STATUSES:
        assert lifecycle.TRANSITIONS[status] == frozenset()
    assert lifecycle.can_transition(RequestStatus.APPROVED, RequestStatus.PENDING)
    assert not lifecycle.can_transition(RequestStatus.EXECUTING, RequestStatus.PENDING)
