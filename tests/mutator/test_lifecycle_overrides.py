"""The override gate and warnings in the lifecycle core: pure, no server, no store."""

from __future__ import annotations

import pytest

from mutator import lifecycle
from mutator.contracts import ApproveInput, EvaluateResult
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.external_checks import CheckRequirement
from mutator.gates import GateKind, GateStatus
from mutator.lifecycle import IllegalTransition, VoteRefused
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.overrides import OverrideInput, OverrideRequirement, PolicyWarning
from tests.helpers.lifecycle import REQUESTER, TWO_OF_THREE, at, submitted

HOURS = OverrideRequirement(
    policy="business_hours",
    reason="outside business hours",
    roles=["oncall"],
    eligible=["olga", "oscar"],
    timeout_seconds=600,
)
FREEZE = OverrideRequirement(
    policy="freeze", reason="frozen", roles=["vp"], eligible=["victor"], timeout_seconds=60
)
CI = CheckRequirement(name="ci", policies=["gate"], eligible=["ci-bot"], timeout_seconds=300)


def evaluated(
    *overrides: OverrideRequirement,
    approvals: bool = False,
    checks: bool = False,
    warnings: tuple[PolicyWarning, ...] = (),
    outcome: EvaluationOutcome = EvaluationOutcome.REQUIRE_APPROVALS,
) -> MutationRequest:
    request = submitted()
    result = EvaluateResult(
        outcome=outcome,
        requirements=[TWO_OF_THREE] if approvals else [],
        checks=[CI] if checks else [],
        overrides=list(overrides),
        warnings=list(warnings),
        state_version=4,
    )
    lifecycle.admit(request, result, at(0))
    return request


def given(actor: str = "olga", reason: str = "customer escalation") -> OverrideInput:
    return OverrideInput(actor=actor, reason=reason)


def test_a_soft_deny_waits_pending_override_until_its_own_deadline() -> None:
    request = evaluated(HOURS)
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.OVERRIDE,
    )
    [gate] = request.gates
    assert (gate.kind, gate.name, gate.status) == (
        GateKind.OVERRIDE,
        "business_hours",
        GateStatus.WAITING,
    )
    assert "outside business hours" in gate.detail
    assert "olga, oscar" in gate.detail
    assert request.decisions[-1].reason == "waits for override of business_hours"
    assert lifecycle.gate_deadline(request) == at(600)
    assert lifecycle.next_step(request) == lifecycle.AwaitApprovals(at(600))


def test_an_eligible_override_passes_the_gate_and_the_request_is_approved() -> None:
    request = evaluated(HOURS)
    effect = lifecycle.override(request, given(), at(5))
    [decision] = effect.decisions
    assert (decision.category.value, decision.code, decision.actor, decision.reason) == (
        "approval",
        DecisionCode.OVERRIDDEN,
        "olga",
        "customer escalation",
    )
    assert request.gates[0].status == GateStatus.PASSED
    assert lifecycle.gates_met(request)  # the status stays pending: gates_complete moves it
    lifecycle.gates_complete(request, at(6))
    assert request.status == RequestStatus.APPROVED
    assert request.decisions[-1].actor == SystemActor.GATES
    assert request.decisions[-1].reason == "overridden: business_hours"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (given(actor="mallory"), "mallory may not override this request's soft deny"),
        (given(actor=REQUESTER), "dave is the requester: a soft deny is overridden by someone"),
        (given(reason="  "), "reason must not be empty"),
        (given(actor=""), "actor must not be empty"),
    ],
)
def test_a_refused_override_records_nothing(override: OverrideInput, message: str) -> None:
    request = evaluated(HOURS)
    before = request.model_copy(deep=True)
    with pytest.raises(VoteRefused, match=message):
        lifecycle.override(request, override, at(5))
    assert request == before


def test_an_override_is_refused_before_the_evaluation_and_once_nothing_waits() -> None:
    request = evaluated(HOURS)
    assert lifecycle.override_refusal(request, given(), admitted=False) is not None
    lifecycle.override(request, given(), at(1))
    assert "waits for no override" in (
        lifecycle.override_refusal(request, given(), admitted=True) or ""
    )
    plain = evaluated(approvals=True)
    assert "waits for no override" in (
        lifecycle.override_refusal(plain, given(), admitted=True) or ""
    )


def test_soft_deny_plus_approvals_needs_both() -> None:
    request = evaluated(HOURS, approvals=True)
    # The override gate comes first in the gate order: that is the pending reason.
    assert request.pending_reason == PendingReason.OVERRIDE
    for actor in ("alice", "bob"):
        lifecycle.approve(request, ApproveInput(actor=actor), at(1))
    assert not lifecycle.gates_met(request)
    with pytest.raises(IllegalTransition, match="before an override of business_hours"):
        lifecycle.transition(
            request,
            RequestStatus.APPROVED,
            None,
            DecisionCode.APPROVED,
            SystemActor.APPROVERS,
            "",
            at(2),
        )
    lifecycle.override(request, given(), at(3))
    assert lifecycle.gates_met(request)
    lifecycle.gates_complete(request, at(4))
    assert request.status == RequestStatus.APPROVED
    assert request.decisions[-1].reason.endswith("; overridden: business_hours")


def test_an_override_passes_only_the_soft_denies_its_actor_may_override() -> None:
    request = evaluated(HOURS, FREEZE)
    lifecycle.override(request, given(), at(1))
    assert [g.status for g in request.gates] == [GateStatus.PASSED, GateStatus.WAITING]
    assert request.pending_reason == PendingReason.OVERRIDE
    assert lifecycle.gate_deadline(request) == at(60)
    lifecycle.deadline_passed(request, at(60))
    assert request.status == RequestStatus.EXPIRED
    assert request.decisions[-1].reason == "soft deny of freeze not overridden before its deadline"


def test_checks_come_before_the_override_in_the_gate_order() -> None:
    request = evaluated(HOURS, checks=True)
    assert [g.kind for g in request.gates] == [GateKind.EXTERNAL_CHECK, GateKind.OVERRIDE]
    assert request.pending_reason == PendingReason.EXTERNAL_CHECK
    assert request.decisions[-1].reason == "waits for checks: ci; override of business_hours"


def test_warnings_are_recorded_before_the_outcome() -> None:
    warning = PolicyWarning(policy="size", reason="large change")
    request = evaluated(warnings=(warning,), outcome=EvaluationOutcome.ALLOW)
    codes = [(d.code, d.actor, d.reason) for d in request.decisions[1:]]
    assert codes == [
        (DecisionCode.WARNED, SystemActor.POLICY, "size: large change"),
        (DecisionCode.APPROVED, SystemActor.POLICY, "allowed by policy"),
    ]
    denied = evaluated(warnings=(warning,), outcome=EvaluationOutcome.DENY)
    assert [d.code for d in denied.decisions[1:]] == [DecisionCode.WARNED, "rejected:policy_denied"]


def test_revalidation_keeps_an_override_given_and_waits_for_a_new_one() -> None:
    request = evaluated(HOURS)
    lifecycle.override(request, given(), at(1))
    lifecycle.gates_complete(request, at(2))
    again = EvaluateResult(
        outcome=EvaluationOutcome.REQUIRE_APPROVALS, overrides=[HOURS], state_version=5
    )
    lifecycle.revalidated(request, again, 5, at(3))
    assert request.status == RequestStatus.APPROVED
    assert request.decisions[-1].code == DecisionCode.REVALIDATED
    newly = EvaluateResult(
        outcome=EvaluationOutcome.REQUIRE_APPROVALS, overrides=[HOURS, FREEZE], state_version=6
    )
    lifecycle.revalidated(request, newly, 6, at(4))
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.OVERRIDE,
    )
    assert request.decisions[-1].reason == "waits for override of freeze"
