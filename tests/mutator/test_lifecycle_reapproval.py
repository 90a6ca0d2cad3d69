"""``on_stale="reapprove_if_changed"`` in the pure lifecycle: kept, reset, refused, allowed."""

from __future__ import annotations

import pytest

from mutator import diffs, lifecycle
from mutator.contracts import EvaluateResult
from mutator.decisions import EvaluationOutcome
from mutator.diffs import StateDiff
from mutator.models import (
    ApprovalRequirement,
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
)
from tests.helpers.lifecycle import (
    TWO_OF_THREE,
    approved_by_policy,
    approved_by_votes,
    at,
    codes,
    evaluation,
)

# Approved on version 4: cpu 4 -> 16.
APPROVED = diffs.state_diff({"cpu": 4, "mem": 1}, {"cpu": 16, "mem": 1}, 4)
# On version 6, mem moved: the same change.
SAME = diffs.state_diff({"cpu": 4, "mem": 2}, {"cpu": 16, "mem": 2}, 6)
# On version 6, cpu moved: another change (16 over 6, not over 4).
OTHER = diffs.state_diff({"cpu": 6, "mem": 1}, {"cpu": 16, "mem": 1}, 6)


def _stale_approved() -> MutationRequest:
    request = approved_by_votes()
    request.planned_diff = APPROVED
    effect = lifecycle.stale(request, "reapprove_if_changed", 6, at(5))
    assert effect.then == lifecycle.Reevaluate(6)
    assert request.base_version == 6
    assert request.status == RequestStatus.APPROVED
    return request


def _required(
    planned: StateDiff | None, requirement: ApprovalRequirement = TWO_OF_THREE
) -> EvaluateResult:
    result = evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[requirement])
    result.planned_diff = planned
    return result


def test_the_same_change_keeps_the_approvals_and_names_both_versions() -> None:
    request = _stale_approved()
    effect = lifecycle.approval_kept_if_unchanged(request, _required(SAME), 6, at(6))
    assert request.status == RequestStatus.APPROVED
    assert effect.transition is None
    assert codes(request)[-1] == "version_resolution/approval_kept"
    assert effect.decisions[0].reason == (
        "the change on version 6 is the one approved on version 4: the approvals stand"
    )
    assert [a.actor for a in request.approvals] == ["alice", "bob"]
    assert request.planned_diff == SAME
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=False)


@pytest.mark.parametrize(
    "latest", [OTHER, None, diffs.failed_diff(6, "limits.set raised KeyError: 'name'")]
)
def test_another_change_asks_for_the_approvals_again(latest: StateDiff | None) -> None:
    request = _stale_approved()
    effect = lifecycle.approval_kept_if_unchanged(request, _required(latest), 6, at(6))
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.APPROVAL,
    )
    assert request.approvals == []
    assert codes(request)[-2:] == ["approval/approvals_reset", "lifecycle/pending"]
    assert effect.decisions[0].reason == (
        "the change on version 6 differs from the one approved on version 4; "
        "re-approval needed against version 6"
    )
    assert request.planned_diff == latest
    assert request.deadline == at(6 + TWO_OF_THREE.timeout_seconds)


def test_the_same_change_short_of_new_requirements_waits_for_revalidation() -> None:
    request = _stale_approved()
    more = TWO_OF_THREE.model_copy(update={"count": 3})
    lifecycle.approval_kept_if_unchanged(request, _required(SAME, more), 6, at(6))
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.REVALIDATION,
    )
    assert [a.actor for a in request.approvals] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (EvaluationOutcome.DENY, RejectionCode.POLICY_DENIED),
        (EvaluationOutcome.INVALID, RejectionCode.VALIDATION_FAILED),
    ],
)
def test_a_refusal_on_the_latest_state_rejects(
    outcome: EvaluationOutcome, code: RejectionCode
) -> None:
    request = _stale_approved()
    lifecycle.approval_kept_if_unchanged(request, evaluation(outcome, reason="no"), 6, at(6))
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert request.rejection.code == code


def test_policies_that_now_allow_it_let_it_execute() -> None:
    request = _stale_approved()
    lifecycle.approval_kept_if_unchanged(request, evaluation(EvaluationOutcome.ALLOW), 6, at(6))
    assert request.status == RequestStatus.APPROVED
    assert codes(request)[-1] == "version_resolution/revalidated"


def test_allowed_at_once_there_are_no_approvals_to_keep() -> None:
    request = approved_by_policy(expected_version=3)
    effect = lifecycle.stale(request, "reapprove_if_changed", 6, at(5))
    assert effect.then is None
    assert request.rejection is not None
    assert request.rejection.code == RejectionCode.STALE


def test_only_an_approved_request_keeps_its_approvals() -> None:
    request = _stale_approved()
    lifecycle.approval_kept_if_unchanged(request, _required(OTHER), 6, at(6))
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.approval_kept_if_unchanged(request, _required(SAME), 6, at(7))
