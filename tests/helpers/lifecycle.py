"""Requests and evaluations for the lifecycle core's tests (no server, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mutator import lifecycle
from mutator.contracts import ApproveInput, EvaluateResult
from mutator.decisions import EvaluationOutcome
from mutator.lane_contracts import LaneOutcome
from mutator.models import (
    Approval,
    ApprovalRequirement,
    BatchItem,
    BatchMode,
    MutationRequest,
    SubmitRequestInput,
    submitted_request,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REQUESTER = "dave"
TWO_OF_THREE = ApprovalRequirement(
    policy="two_of_three", count=2, eligible=["alice", "bob", "carol"], timeout_seconds=3600
)
ONE_LEAD = ApprovalRequirement(
    policy="lead", count=1, eligible=["erin"], timeout_seconds=600, allow_self_approval=False
)


def at(seconds: float) -> datetime:
    """``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def submitted(*, expected_version: int | None = None, batch: bool = False) -> MutationRequest:
    """A request as submitted, with its ``submitted`` decision."""
    items = (
        [
            BatchItem(state_id="a", mutation="counter.add", payload={}),
            BatchItem(state_id="b", mutation="counter.add", payload={}, expected_version=3),
        ]
        if batch
        else []
    )
    request = submitted_request(
        SubmitRequestInput(
            request_id="r-1",
            state_id="a,b" if batch else "acct-1",
            mutation="counter.add",
            payload={"amount": 1},
            requester=REQUESTER,
            reason="monthly top-up",
            expected_version=None if batch else expected_version,
            batch_mode=BatchMode.ATOMIC if batch else None,
            items=items,
        ),
        T0,
    )
    lifecycle.submit(request, T0)
    return request


def evaluation(
    outcome: EvaluationOutcome,
    *,
    requirements: list[ApprovalRequirement] | None = None,
    reason: str = "",
    state_version: int = 4,
) -> EvaluateResult:
    """What the evaluate activity returns."""
    return EvaluateResult(
        outcome=outcome,
        reason=reason,
        requirements=requirements or [],
        state_version=state_version,
        item_versions=[7, 3],
    )


def pending(*requirements: ApprovalRequirement) -> MutationRequest:
    """A request waiting for votes on ``requirements`` (two of three by default)."""
    request = submitted()
    lifecycle.admit(
        request,
        evaluation(
            EvaluationOutcome.REQUIRE_APPROVALS, requirements=list(requirements or [TWO_OF_THREE])
        ),
        at(1),
    )
    return request


def approved_by_policy(*, expected_version: int | None = None) -> MutationRequest:
    """A request that policies allowed at once."""
    request = submitted(expected_version=expected_version)
    lifecycle.admit(request, evaluation(EvaluationOutcome.ALLOW), at(1))
    return request


def approved_by_votes() -> MutationRequest:
    """A two-of-three request approved by alice and bob, against base version 4."""
    request = pending()
    for actor in ("alice", "bob"):
        lifecycle.approve(request, approve_input(actor), at(2))
    lifecycle.approvals_complete(request, at(3))
    return request


def approve_input(actor: str, comment: str = "ok") -> ApproveInput:
    """An approve vote."""
    return ApproveInput(actor=actor, comment=comment)


def lane_outcome(error_type: str = "", error: str = "", current: int | None = None) -> LaneOutcome:
    """How a lane turn ended without applying the change."""
    return LaneOutcome(
        state_id="acct-1", token=9, error_type=error_type, error=error, current_version=current
    )


def approvals(*actors: str) -> list[Approval]:
    """Approvals by ``actors``."""
    return [Approval(actor=actor, at=T0) for actor in actors]


def codes(request: MutationRequest) -> list[str]:
    """The request's decisions as ``category/code`` strings."""
    return [f"{d.category.value}/{d.code}" for d in request.decisions]
