"""``on_stale="reapprove_if_changed"`` end to end on a real dev server and store.

The approved request sets ``cpu``; meanwhile another request moves the state. An unrelated
field moved: the change is the same, the approvals stand. The same field moved: the change
differs (16 over another value), and the approvers are asked again.
"""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.store import Store
from tests.helpers import diff_app
from tests.helpers.histories import request_events, resolutions
from tests.helpers.workers import assert_eventually, running_mutator


async def _approved_plan_then_state_moves(
    client: MutatorClient, moved: dict[str, object]
) -> MutationRequest:
    """cpu=4, mem=1 (version 2); a pending cpu=16 (planned on 2); then ``moved`` (version 3)."""
    state = f"acct-{uuid.uuid4().hex[:8]}"
    for name, value in (("cpu", 4), ("mem", 1)):
        await client.submit(state, "limits.force", {"name": name, "value": value}, actor="dave")
    req = await client.submit(state, "limits.set", {"name": "cpu", "value": 16}, actor="dave")
    assert (req.status, req.base_version) == (RequestStatus.PENDING, 2)
    assert req.planned_diff is not None
    assert req.planned_diff.ops == [{"op": "replace", "path": "/cpu", "value": 16}]
    done = await client.submit(state, "limits.force", moved, actor="erin")
    assert done.resulting_version == 3
    return req


def _reasons(req: MutationRequest, code: str) -> list[str]:
    return [d.reason for d in req.decisions if d.code == code]


async def test_an_unrelated_field_moved_the_approvals_stand_and_it_executes(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        req = await _approved_plan_then_state_moves(client, {"name": "mem", "value": 2})
        await client.approve(req.request_id, actor="alice")
        done = await client.wait(req.request_id, timeout=30)
        state = await client.state(req.state_id)
    assert done.status == RequestStatus.EXECUTED
    assert state.data == {"cpu": 16, "mem": 2}
    assert _reasons(done, "stale") == ["base version 2, state is at version 3"]
    assert _reasons(done, "approval_kept") == [
        "the change on version 3 is the one approved on version 2: the approvals stand"
    ]
    assert "approvals_reset" not in [d.code for d in done.decisions]
    assert [a.actor for a in done.approvals] == ["alice"]
    assert done.planned_diff is not None
    assert done.applied_diff is not None
    assert done.planned_diff.version == done.applied_diff.version == 3
    assert done.applied_diff.ops == done.planned_diff.ops
    events = await request_events(dev_env.client, req.request_id)
    assert [r["strategy"] for r in resolutions(events)] == ["reapprove_if_changed", None]


async def test_the_same_field_moved_the_approvers_are_asked_again(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        req = await _approved_plan_then_state_moves(client, {"name": "cpu", "value": 6})
        await client.approve(req.request_id, actor="alice")

        async def asked_again() -> MutationRequest:
            again = await client.get(req.request_id)
            assert (again.status, again.pending_reason) == (
                RequestStatus.PENDING,
                PendingReason.APPROVAL,
            )
            return again

        again = await assert_eventually(asked_again)
        assert again.approvals == []
        assert again.base_version == 3
        assert again.planned_diff is not None
        assert again.planned_diff.version == 3
        assert again.planned_diff.previous == {"0": 6}
        assert _reasons(again, "approvals_reset") == [
            "the change on version 3 differs from the one approved on version 2; "
            "re-approval needed against version 3"
        ]
        assert "approval_kept" not in [d.code for d in again.decisions]
        assert (await client.state(req.state_id)).data == {"cpu": 6, "mem": 1}
        await client.approve(req.request_id, actor="bob")
        done = await client.wait(req.request_id, timeout=30)
        state = await client.state(req.state_id)
    assert done.status == RequestStatus.EXECUTED
    assert state.data == {"cpu": 16, "mem": 1}
    assert [a.actor for a in done.approvals] == ["bob"]
