"""Quotas: the declaration, and the quota gate in the lifecycle core (full, wait, free, reject)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mutator import MutationApp, Quota, lifecycle
from mutator.contracts import CancelInput
from mutator.gates import GateKind, GateStatus
from mutator.lane_contracts import ERR_QUOTA_EXCEEDED, LaneOutcome, exceeded_quota
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.quotas import OnExceeded, QuotaExceeded, describe_per, next_slot
from mutator.workflows.version_check import waited
from tests.helpers.lifecycle import REQUESTER, approved_by_policy, approved_by_votes, at, codes

HOUR = timedelta(hours=1)


def full(on_exceeded: OnExceeded = "wait", frees: int = 3600) -> LaneOutcome:
    quota = Quota(limit=3, per=HOUR, key="requester", on_exceeded=on_exceeded)
    exceeded = QuotaExceeded(
        use=quota.use("limits.set", "acct-1", "alice", at(10)), used=3, next_slot=at(frees)
    )
    return LaneOutcome(
        state_id="acct-1",
        token=3,
        error_type=ERR_QUOTA_EXCEEDED,
        error=f"not applied: quota exceeded: {exceeded.detail}",
        quota=exceeded,
    )


def quota_gate(request: MutationRequest) -> tuple[str, GateStatus, str]:
    gate = next(g for g in request.gates if g.kind == GateKind.QUOTA)
    return gate.name, gate.status, gate.detail


# -- the declaration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"limit": 0}, "Quota limit must be a positive integer, got 0"),
        ({"limit": -2}, "Quota limit must be a positive integer, got -2"),
        ({"limit": 1.5}, "Quota limit must be a positive integer, got 1.5"),
        (
            {"per": timedelta(0)},
            "Quota per must be a positive timedelta, got datetime.timedelta(0)",
        ),
        ({"per": -HOUR}, "Quota per must be a positive timedelta"),
        ({"per": 3600}, "Quota per must be a positive timedelta, got 3600"),
        ({"key": "team"}, "Quota key must be one of state, requester, mutation, got 'team'"),
        (
            {"on_exceeded": "queue"},
            "Quota on_exceeded must be one of wait, reject, got 'queue'",
        ),
    ],
)
def test_a_quota_that_cannot_be_kept_is_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    app = MutationApp()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        app.mutation("m", quota=Quota(**{"limit": 3, "per": HOUR, **fields}))
    assert app.mutations == {}


def test_the_quota_must_be_a_quota() -> None:
    app = MutationApp()
    with pytest.raises(ValueError, match="quota must be a mutator.Quota, got dict"):
        app.mutation("m", quota={"limit": 3})  # type: ignore[arg-type]
    assert app.mutations == {}


def test_a_declared_quota_keys_its_uses() -> None:
    app = MutationApp()

    @app.mutation("deploy", quota=Quota(limit=2, per=HOUR, key="mutation"))
    def deploy(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return state

    quota = app.get("deploy").quota
    assert quota == Quota(limit=2, per=HOUR, key="mutation", on_exceeded="wait")
    one = quota.use("deploy", "svc-1", "alice", at(0))
    assert one.row_key == quota.use("deploy", "svc-2", "bob", at(5)).row_key
    by_state = Quota(limit=2, per=HOUR, key="state")
    assert by_state.use("deploy", "svc-1", "a", at(0)).value == "svc-1"
    assert Quota(limit=2, per=HOUR, key="requester").use("deploy", "s", "bob", at(0)).value == "bob"


def test_the_next_slot_is_when_enough_of_the_oldest_uses_left() -> None:
    uses = [at(30), at(0), at(20)]
    assert next_slot(uses, 3, HOUR) == at(3600)
    assert next_slot(uses, 2, HOUR) == at(3620)
    assert [describe_per(p) for p in (HOUR, timedelta(minutes=30), timedelta(days=1))] == [
        "1h",
        "30m",
        "1d",
    ]
    assert describe_per(timedelta(seconds=90)) == "90s"


# -- the gate -------------------------------------------------------------------------------


@pytest.mark.parametrize("via_lane", [False, True])
def test_a_full_quota_that_waits_makes_the_request_pending(via_lane: bool) -> None:
    request = approved_by_policy()
    effect = lifecycle.execution_refused(request, full(), at(10), via_lane=via_lane)
    assert effect.transition is not None
    assert (effect.transition.source, effect.transition.target) == (
        RequestStatus.APPROVED,
        RequestStatus.PENDING,
    )
    assert (request.status, request.pending_reason) == (RequestStatus.PENDING, PendingReason.QUOTA)
    assert request.scheduled_for == at(3600)
    expected = ["lifecycle/lane_acquired"] if via_lane else []
    assert codes(request)[-len(expected) - 1 :] == [*expected, "lifecycle/pending"]
    detail = (
        "3 of 3 executions of limits.set per 1h for requester alice; next slot at "
        f"{at(3600).isoformat()}"
    )
    assert request.decisions[-1].reason == f"waits for its quota: {detail}"
    assert quota_gate(request) == ("requester alice", GateStatus.WAITING, detail)
    assert lifecycle.next_step(request) == lifecycle.AwaitQuota(at(3600))
    assert waited(request)


def test_a_free_slot_approves_it_again() -> None:
    request = approved_by_votes()
    lifecycle.execution_refused(request, full(), at(10), via_lane=True)
    effect = lifecycle.quota_free(request, at(3600))
    assert effect.transition is not None
    assert (request.status, request.pending_reason, request.scheduled_for) == (
        RequestStatus.APPROVED,
        None,
        None,
    )
    assert codes(request)[-1] == "lifecycle/quota_free"
    why = f"a slot of quota requester alice is free at {at(3600).isoformat()}"
    assert request.decisions[-1].reason == why
    assert quota_gate(request) == ("requester alice", GateStatus.PASSED, why)
    assert lifecycle.next_step(request) == lifecycle.Execute(batch=False)
    assert all(g.status == GateStatus.PASSED for g in request.gates if g.kind == GateKind.APPROVAL)


def test_full_again_after_a_slot_freed_waits_again_with_one_gate() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, full(), at(10), via_lane=False)
    lifecycle.quota_free(request, at(3600))
    lifecycle.execution_refused(request, full(frees=3700), at(3601), via_lane=True)
    assert request.pending_reason == PendingReason.QUOTA
    assert len([g for g in request.gates if g.kind == GateKind.QUOTA]) == 1
    assert lifecycle.next_step(request) == lifecycle.AwaitQuota(at(3700))


def test_a_full_quota_that_rejects_rejects_naming_it() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, full("reject"), at(10), via_lane=False)
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert request.rejection.code == RejectionCode.QUOTA_EXCEEDED
    assert request.rejection.reason.startswith(
        "quota requester alice: 3 of 3 executions of limits.set per 1h for requester alice"
    )
    assert codes(request)[-1] == "lifecycle/rejected:quota_exceeded"
    assert quota_gate(request)[1] == GateStatus.FAILED
    assert request.scheduled_for is None


def test_freeing_a_request_that_no_longer_waits_changes_nothing() -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, full(), at(10), via_lane=False)
    lifecycle.cancel(request, CancelInput(actor=REQUESTER, reason="not needed"), at(20))
    assert request.status == RequestStatus.CANCELED
    before = request.model_copy(deep=True)
    assert lifecycle.quota_free(request, at(3600)) == lifecycle.Effect()
    assert request == before
    approved = approved_by_policy()
    assert lifecycle.quota_free(approved, at(30)) == lifecycle.Effect()


def test_a_full_quota_without_its_detail_fails_the_request() -> None:
    request = approved_by_policy()
    outcome = LaneOutcome(state_id="acct-1", token=1, error_type=ERR_QUOTA_EXCEEDED, error="x")
    lifecycle.execution_refused(request, outcome, at(10), via_lane=False)
    assert request.status == RequestStatus.FAILED


def test_exceeded_quota_reads_only_its_own_error() -> None:
    exceeded = full().quota
    assert exceeded is not None
    detail = exceeded.model_dump(mode="json")
    assert exceeded_quota(ERR_QUOTA_EXCEEDED, [detail]) == exceeded
    assert exceeded_quota("ScheduleClosed", [detail]) is None
    assert exceeded_quota(ERR_QUOTA_EXCEEDED, []) is None
    assert exceeded_quota(ERR_QUOTA_EXCEEDED, ["x"]) is None
