"""The lifecycle core, step by step: every arrow of docs/lifecycle.md's diagram, every stale
strategy, and the decisions each writes. No server, no store: milliseconds.

Votes and their refusals: test_lifecycle_votes.py.
"""

from __future__ import annotations

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
    for status in TERMINAL_STATUSES - {RequestStatus.EXECUTED}:
        assert lifecycle.TRANSITIONS[status] == frozenset()
    # The one arrow out of a final status: its compensation's execution undoes it.
    assert lifecycle.TRANSITIONS[RequestStatus.EXECUTED] == {RequestStatus.COMPENSATED}
    assert lifecycle.can_transition(RequestStatus.APPROVED, RequestStatus.PENDING)
    assert not lifecycle.can_transition(RequestStatus.EXECUTING, RequestStatus.PENDING)
