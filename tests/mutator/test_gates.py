"""Gates (mutator/gates.py) and the dependency gate of the lifecycle core: pure, no server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mutator import lifecycle
from mutator.contracts import ApproveInput, CancelInput, RejectInput
from mutator.decisions import EvaluationOutcome
from mutator.gates import (
    GATE_ORDER,
    Gate,
    GateKind,
    GateStatus,
    describe,
    first_outstanding,
    ordered,
    with_gate,
    with_kind,
)
from mutator.models import (
    TERMINAL_STATUSES,
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
    SubmitRequestInput,
)
from tests.helpers.lifecycle import TWO_OF_THREE, at, evaluation, submitted


def _gate(kind: GateKind, name: str, status: GateStatus = GateStatus.WAITING) -> Gate:
    return Gate(kind=kind, name=name, status=status)


def _reason(request: MutationRequest) -> PendingReason | None:
    """Read again after a step (mypy would keep the narrowing of an earlier assert)."""
    return request.pending_reason


def _waiting_for(*after: str) -> MutationRequest:
    request = submitted()
    request.after = list(after)
    lifecycle.await_dependencies(request, at(1))
    return request


def test_gate_kinds_are_pending_reasons_in_the_issue_order() -> None:
    assert [k.value for k in GATE_ORDER] == [
        "dependency",
        "external_check",
        "override",  # a soft deny's override, before the votes (docs/gates.md)
        "approval",
        "schedule",
        "quota",
    ]
    assert {k.value for k in GateKind} <= {r.value for r in PendingReason}


def test_first_outstanding_follows_the_order_not_the_insertion() -> None:
    gates = [
        _gate(GateKind.QUOTA, "q"),
        _gate(GateKind.APPROVAL, "two"),
        _gate(GateKind.DEPENDENCY, "r-0", GateStatus.PASSED),
        _gate(GateKind.SCHEDULE, "freeze"),
    ]
    assert [g.kind for g in ordered(gates)] == [
        GateKind.DEPENDENCY,
        GateKind.APPROVAL,
        GateKind.SCHEDULE,
        GateKind.QUOTA,
    ]
    first = first_outstanding(gates)
    assert first is not None
    assert (first.kind, first.name) == (GateKind.APPROVAL, "two")
    assert first_outstanding([_gate(GateKind.QUOTA, "q", GateStatus.PASSED)]) is None


def test_with_gate_replaces_by_kind_and_name() -> None:
    gates = [_gate(GateKind.DEPENDENCY, "a"), _gate(GateKind.DEPENDENCY, "b")]
    changed = with_gate(gates, _gate(GateKind.DEPENDENCY, "a", GateStatus.PASSED))
    assert {(g.name, g.status) for g in changed} == {
        ("a", GateStatus.PASSED),
        ("b", GateStatus.WAITING),
    }
    assert with_kind(changed, GateKind.DEPENDENCY, []) == []


def test_describe_lists_only_outstanding_gates() -> None:
    gates = [
        Gate(kind=GateKind.APPROVAL, name="two", detail="0 of 2 approvals"),
        Gate(kind=GateKind.DEPENDENCY, name="r-0", status=GateStatus.PASSED, detail="done"),
        Gate(kind=GateKind.DEPENDENCY, name="r-9"),
    ]
    assert describe(gates) == ["dependency r-9", "approval two: 0 of 2 approvals"]


def test_approval_requirements_are_gates_with_their_progress() -> None:
    request = submitted()
    lifecycle.admit(
        request,
        evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[TWO_OF_THREE]),
        at(1),
    )
    assert request.gates == [
        Gate(
            kind=GateKind.APPROVAL,
            name="two_of_three",
            detail="0 of 2 approvals (eligible: alice, bob, carol)",
        )
    ]
    assert request.pending_reason == PendingReason.APPROVAL
    lifecycle.approve(request, ApproveInput(actor="alice"), at(2), admitted=True)
    assert request.gates[0].detail.startswith("1 of 2")
    lifecycle.approve(request, ApproveInput(actor="bob"), at(3), admitted=True)
    lifecycle.approvals_complete(request, at(3))
    assert (request.status, request.gates[0].status) == (RequestStatus.APPROVED, "passed")


def test_an_approver_rejection_fails_the_approval_gate() -> None:
    request = submitted()
    lifecycle.admit(
        request,
        evaluation(EvaluationOutcome.REQUIRE_APPROVALS, requirements=[TWO_OF_THREE]),
        at(1),
    )
    lifecycle.reject_vote(request, RejectInput(actor="carol", reason="no"), at(2), admitted=True)
    assert request.gates[0].status == GateStatus.FAILED


def test_pending_reason_is_the_first_outstanding_gate() -> None:
    request = submitted()
    request.status = RequestStatus.PENDING
    request.pending_reason = PendingReason.APPROVAL
    request.gates = [_gate(GateKind.SCHEDULE, "freeze"), _gate(GateKind.EXTERNAL_CHECK, "ci")]
    lifecycle.sync_gates(request)
    assert request.pending_reason == PendingReason.EXTERNAL_CHECK
    request.gates = with_gate(
        request.gates, _gate(GateKind.EXTERNAL_CHECK, "ci", GateStatus.PASSED)
    )
    lifecycle.sync_gates(request)
    assert _reason(request) == PendingReason.SCHEDULE


def test_revalidation_keeps_its_reason_while_votes_wait() -> None:
    request = submitted()
    request.required_approvals = [TWO_OF_THREE]
    request.pending_reason = PendingReason.REVALIDATION
    lifecycle.sync_gates(request)
    assert request.pending_reason == PendingReason.REVALIDATION
    request.gates = with_gate(request.gates, _gate(GateKind.DEPENDENCY, "r-0"))
    lifecycle.sync_gates(request)
    assert _reason(request) == PendingReason.DEPENDENCY


def test_await_dependencies_records_one_pending_decision_and_a_gate_each() -> None:
    request = _waiting_for("r-a", "r-b")
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.DEPENDENCY,
    )
    last = request.decisions[-1]
    assert (last.code, last.actor, last.reason) == (
        "pending",
        "system",
        "waits for r-a, r-b to be executed",
    )
    assert [(g.name, g.status) for g in request.gates] == [
        ("r-a", GateStatus.WAITING),
        ("r-b", GateStatus.WAITING),
    ]
    with pytest.raises(lifecycle.IllegalTransition, match="cannot wait for dependencies now"):
        lifecycle.await_dependencies(request, at(2))


def test_every_dependency_executed_leaves_it_to_be_evaluated() -> None:
    request = _waiting_for("r-a", "r-b")
    effect = lifecycle.dependency_ended(request, "r-a", RequestStatus.EXECUTED, at(2))
    assert [d.code for d in effect.decisions] == ["dependency_met"]
    assert effect.transition is None
    assert request.pending_reason == PendingReason.DEPENDENCY
    assert not lifecycle.dependencies_met(request)
    lifecycle.dependency_ended(request, "r-b", RequestStatus.EXECUTED, at(3))
    assert lifecycle.dependencies_met(request)
    assert (request.status, _reason(request)) == (RequestStatus.PENDING, None)
    # Then admitted as any submitted request.
    lifecycle.admit(request, evaluation(EvaluationOutcome.ALLOW), at(4))
    assert request.status == RequestStatus.APPROVED


@pytest.mark.parametrize(
    ("status", "why", "reason"),
    [
        (RequestStatus.REJECTED, "", "dependency r-b is rejected, not executed"),
        (RequestStatus.EXPIRED, "", "dependency r-b is expired, not executed"),
        (None, "its workflow was terminated", "dependency r-b: its workflow was terminated"),
    ],
)
def test_a_dependency_ending_otherwise_rejects_naming_it(
    status: RequestStatus | None, why: str, reason: str
) -> None:
    request = _waiting_for("r-a", "r-b")
    effect = lifecycle.dependency_ended(request, "r-b", status, at(2), why=why)
    assert effect.transition is not None
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert (request.rejection.code, request.rejection.reason) == (
        RejectionCode.DEPENDENCY_FAILED,
        reason,
    )
    assert request.gates[1].status == GateStatus.FAILED
    # The other dependency's outcome changes nothing any more.
    later = lifecycle.dependency_ended(request, "r-a", RequestStatus.EXECUTED, at(3))
    assert later == lifecycle.Effect()


def test_outcome_of_a_request_it_does_not_wait_for_is_illegal() -> None:
    request = _waiting_for("r-a")
    with pytest.raises(lifecycle.IllegalTransition, match="which it does not wait for"):
        lifecycle.dependency_ended(request, "r-x", RequestStatus.EXECUTED, at(2))


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (["r-1"], "after: a request cannot wait for itself"),
        (["r-2", "r-2"], "after: names a request more than once"),
        ([""], "String should have at least 1 character"),
    ],
)
def test_submit_input_refuses_bad_after(after: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SubmitRequestInput(
            request_id="r-1",
            state_id="acct-1",
            mutation="counter.add",
            payload={},
            requester="dave",
            after=after,
        )


outcomes = st.lists(
    st.tuples(
        st.sampled_from(["r-a", "r-b", "r-c"]),
        st.sampled_from([RequestStatus.EXECUTED] * 3 + [None, *TERMINAL_STATUSES]),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(outcomes, st.booleans())
def test_any_sequence_of_dependency_outcomes(
    events: list[tuple[str, RequestStatus | None]], cancel_first: bool
) -> None:
    """Rejected at the first outcome that is not executed; evaluated once all are executed;
    each outcome writes the decisions docs/lifecycle.md documents (none once it stopped
    waiting); pending_reason always follows the first outstanding gate."""
    request = _waiting_for("r-a", "r-b", "r-c")
    if cancel_first:
        lifecycle.cancel(request, CancelInput(actor=request.requester, reason="x"), at(2))
    executed: set[str] = set()
    for time, (name, status) in enumerate(events, start=3):
        before = request.model_copy(deep=True)
        effect = lifecycle.dependency_ended(request, name, status, at(time), why="gone")
        if before.status != RequestStatus.PENDING or before.pending_reason is None:
            assert (effect, request) == (lifecycle.Effect(), before)
            continue
        assert len(effect.decisions) == 1
        if status == RequestStatus.EXECUTED:
            executed.add(name)
            assert effect.decisions[0].code == "dependency_met"
            met = executed == {"r-a", "r-b", "r-c"}
            assert _reason(request) == (None if met else PendingReason.DEPENDENCY)
        else:
            assert effect.decisions[0].code == "rejected:dependency_failed"
            assert request.rejection is not None
            assert name in request.rejection.reason
    if request.status == RequestStatus.PENDING and request.pending_reason is not None:
        first = first_outstanding(request.gates)
        assert first is not None
        assert first.kind == GateKind.DEPENDENCY
