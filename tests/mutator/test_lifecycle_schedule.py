"""The schedule gate in the lifecycle core: a closed schedule, its wait, its opening."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from mutator import lifecycle
from mutator.contracts import CancelInput
from mutator.gates import GateKind, GateStatus
from mutator.lane_contracts import ERR_SCHEDULE_CLOSED, LaneOutcome, closed_schedule
from mutator.models import (
    BatchItem,
    BatchMode,
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
    SubmitRequestInput,
    submitted_request,
)
from mutator.schedule import ScheduleBlock, ScheduleStatus
from mutator.workflows.version_check import waited
from tests.helpers.lifecycle import (
    REQUESTER,
    approved_by_policy,
    approved_by_votes,
    at,
    codes,
)

WINDOW = ScheduleBlock(
    kind="window",
    name="weekdays",
    detail="FREQ=WEEKLY;BYDAY=MO for 8:00:00 in UTC",
    until=at(7200),
)
FREEZE = ScheduleBlock(kind="freeze", name="xmas", detail="holidays (by ops)", until=at(3600))


def closed(*blocks: ScheduleBlock, opens: int | None = 7200) -> LaneOutcome:
    status = ScheduleStatus(
        at=at(10), open=False, blocks=list(blocks), next_open=None if opens is None else at(opens)
    )
    return LaneOutcome(
        state_id="acct-1",
        token=3,
        error_type=ERR_SCHEDULE_CLOSED,
        error="not applied: the schedule is closed",
        schedule=status,
    )


def schedule_gate(request: MutationRequest) -> tuple[str, GateStatus, str]:
    gate = next(g for g in request.gates if g.kind == GateKind.SCHEDULE)
    return gate.name, gate.status, gate.detail


@pytest.mark.parametrize("via_lane", [False, True])
def test_a_closed_schedule_makes_an_approved_request_wait(via_lane: bool) -> None:
    request = approved_by_policy()
    effect = lifecycle.execution_refused(request, closed(FREEZE, WINDOW), at(10), via_lane=via_lane)
    assert effect.transition is not None
    assert (effect.transition.source, effect.transition.target) == (
        RequestStatus.APPROVED,
        RequestStatus.PENDING,
    )
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.SCHEDULE,
    )
    assert request.scheduled_for == at(7200)
    expected = ["lifecycle/lane_acquired"] if via_lane else []
    assert codes(request)[-len(expected) - 1 :] == [*expected, "lifecycle/pending"]
    assert request.decisions[-1].reason == (
        f"waits until {at(7200).isoformat()}: freeze xmas (holidays (by ops)); "
        "window weekdays (FREQ=WEEKLY;BYDAY=MO for 8:00:00 in UTC)"
    )
    name, status, detail = schedule_gate(request)
    assert (name, status) == ("freeze xmas, window weekdays", GateStatus.WAITING)
    assert detail.startswith(f"until {at(7200).isoformat()}: freeze xmas")
    assert lifecycle.next_step(request) == lifecycle.AwaitSchedule(at(7200))
    assert waited(request)


def test_the_schedule_opening_approves_it_again() -> None:
    request = approved_by_votes()
    lifecycle.execution_refused(request, closed(FREEZE, opens=3600), at(10), via_lane=True)
    assert request.pending_reason == PendingReason.SCHEDULE
    effect = lifecycle.schedule_open(request, at(3600), "the schedule opened")
    assert effect.transition is not None
    assert request.status == RequestStatus.APPROVED
    assert request.pending_reason is None
    assert request.scheduled_for is None
    assert codes(request)[-1] == "lifecycle/schedule_open"
    assert schedule_gate(request) == ("freeze xmas", GateStatus.PASSED, "the schedule opened")
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=False)
    # Approval gates stay passed throughout.
    assert all(g.status == GateStatus.PASSED for g in request.gates if g.kind == GateKind.APPROVAL)


def test_closed_again_after_opening_waits_again_with_one_gate() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, closed(FREEZE, opens=3600), at(10), via_lane=False)
    lifecycle.schedule_open(request, at(3600), "opened")
    lifecycle.execution_refused(request, closed(WINDOW), at(3601), via_lane=True)
    assert request.pending_reason == PendingReason.SCHEDULE
    assert [g.name for g in request.gates if g.kind == GateKind.SCHEDULE] == ["window weekdays"]
    assert schedule_gate(request)[1] == GateStatus.WAITING


def test_a_schedule_that_never_opens_again_rejects() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, closed(WINDOW, opens=None), at(10), via_lane=False)
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert request.rejection.code == RejectionCode.SCHEDULE_CLOSED
    assert request.rejection.reason.startswith("the schedule never opens again: window weekdays")
    assert codes(request)[-1] == "lifecycle/rejected:schedule_closed"
    assert schedule_gate(request)[1] == GateStatus.FAILED
    assert request.scheduled_for is None


def test_opening_a_request_that_no_longer_waits_changes_nothing() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, closed(FREEZE), at(10), via_lane=False)
    lifecycle.cancel(request, CancelInput(actor=REQUESTER, reason="not needed"), at(20))
    before = request.model_copy(deep=True)
    effect = lifecycle.schedule_open(request, at(30), "opened")
    assert effect == lifecycle.Effect()
    assert request == before
    # An approved request (it never waited) is left as it is too.
    approved = approved_by_policy()
    assert lifecycle.schedule_open(approved, at(30), "opened") == lifecycle.Effect()
    assert approved.status == RequestStatus.APPROVED


def test_a_closed_schedule_without_its_status_fails_the_request() -> None:
    """An outcome that says closed but carries no schedule cannot be waited on: it fails."""
    request = approved_by_policy()
    outcome = LaneOutcome(state_id="acct-1", token=1, error_type=ERR_SCHEDULE_CLOSED, error="x")
    lifecycle.execution_refused(request, outcome, at(10), via_lane=False)
    assert request.status == RequestStatus.FAILED


def test_closed_schedule_reads_only_its_own_error() -> None:
    status = closed(FREEZE).schedule
    assert status is not None
    detail = status.model_dump(mode="json")
    assert closed_schedule(ERR_SCHEDULE_CLOSED, [detail]) == status
    assert closed_schedule("VersionConflict", [detail]) is None
    assert closed_schedule(ERR_SCHEDULE_CLOSED, []) is None
    assert closed_schedule(ERR_SCHEDULE_CLOSED, [7]) is None


def test_a_request_that_never_found_its_schedule_closed_did_not_wait_for_it() -> None:
    assert not waited(approved_by_policy())
    assert waited(approved_by_votes())


def test_a_submission_carries_not_before_only_when_aware() -> None:
    fields = {"request_id": "r", "state_id": "s", "mutation": "m", "payload": {}, "requester": "a"}
    aware = SubmitRequestInput(**fields, not_before=at(60))
    assert submitted_request(aware, at(0)).not_before == at(60)
    with pytest.raises(ValidationError, match="not_before\n  Input should have timezone info"):
        SubmitRequestInput(**fields, not_before=datetime(2027, 1, 1))
    batch = SubmitRequestInput(
        **{**fields, "state_id": "a"},
        batch_mode=BatchMode.ATOMIC,
        items=[BatchItem(state_id="a", mutation="m", payload={})],
        not_before=at(60),
    )
    assert submitted_request(batch, at(0)).not_before == at(60)
