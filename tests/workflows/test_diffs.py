"""Every request records its planned and applied diffs, on a real dev server and store."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from mutator import diffs
from mutator.contracts import request_workflow_id
from mutator.models import BatchItem, BatchMode, MutationRequest, RequestStatus
from mutator.notifications import webhook_config
from mutator.store import Store
from tests.helpers import diff_app
from tests.helpers.webhook_receiver import new_secret, running_receiver
from tests.helpers.workers import assert_eventually, running_mutator


def _state() -> str:
    return f"acct-{uuid.uuid4().hex[:8]}"


async def test_an_allowed_request_records_one_diff_as_planned_and_applied(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = _state()
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        first = await client.submit(state, "limits.force", {"name": "cpu", "value": 4}, actor="d")
        second = await client.submit(state, "limits.force", {"name": "cpu", "value": 8}, actor="d")
    assert first.status == second.status == RequestStatus.EXECUTED
    assert first.applied_diff is not None
    assert second.applied_diff is not None
    assert (first.applied_diff.version, first.applied_diff.ops) == (
        0,
        [{"op": "add", "path": "/cpu", "value": 4}],
    )
    assert (second.applied_diff.version, second.applied_diff.ops) == (
        1,
        [{"op": "replace", "path": "/cpu", "value": 8}],
    )
    assert second.applied_diff.previous == {"0": 4}
    # Executed directly: the handler ran once, and its change is both diffs.
    assert second.planned_diff == second.applied_diff
    stored = sqlite_store.get_request(second.request_id)
    assert stored is not None
    assert stored.applied_diff == second.applied_diff


async def test_a_request_that_waits_shows_its_planned_diff_then_its_applied_one(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = _state()
    secret = new_secret()
    with running_receiver(secret) as receiver:
        webhook = webhook_config(receiver.url, secret, initial_retry_seconds=0.05)
        async with running_mutator(dev_env, sqlite_store, diff_app.app, webhook=webhook) as client:
            await client.submit(state, "limits.force", {"name": "cpu", "value": 4}, actor="dave")
            req = await client.submit(
                state, "limits.set", {"name": "cpu", "value": 16}, actor="dave"
            )
            assert req.status == RequestStatus.PENDING
            assert req.planned_diff is not None
            assert req.applied_diff is None
            assert req.planned_diff.version == 1
            assert req.planned_diff.ops == [{"op": "replace", "path": "/cpu", "value": 16}]
            # Nothing was applied by planning it.
            assert (await client.state(state)).data == {"cpu": 4}
            handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
            metadata = await handle.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            assert "planned change:\n- `replace /cpu 4 → 16`" in metadata.current_details

            async def pending_event() -> dict[str, object]:
                events = [
                    e
                    for e in receiver.verified("request.pending")
                    if e["data"]["request_id"] == req.request_id
                ]
                assert len(events) == 1
                return dict(events[0]["data"])

            data = await assert_eventually(pending_event)
            assert data["planned_diff"] == req.planned_diff.model_dump(mode="json")
            await client.approve(req.request_id, actor="alice")
            done = await client.wait(req.request_id, timeout=20)
            metadata = await handle.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
    assert done.status == RequestStatus.EXECUTED
    assert done.applied_diff is not None
    assert (done.applied_diff.version, done.applied_diff.ops) == (1, req.planned_diff.ops)
    assert done.planned_diff == req.planned_diff
    assert "applied change:\n- `replace /cpu 4 → 16`" in metadata.current_details


async def test_a_handler_that_refuses_the_planned_state_records_why(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = _state()
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        # limits.double reads payload.name from the state: a missing name raises KeyError.
        req = await client.submit(state, "limits.double", {}, actor="dave")
        assert req.status == RequestStatus.PENDING
        await client.cancel(req.request_id, actor="dave")
    assert req.planned_diff is not None
    assert req.planned_diff.ops == []
    assert "KeyError" in req.planned_diff.error


async def test_reapproval_shows_the_change_on_the_new_base_version(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = _state()
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        await client.submit(state, "limits.force", {"name": "cpu", "value": 4}, actor="dave")
        req = await client.submit(state, "limits.renew", {"name": "cpu", "value": 16}, actor="d")
        assert req.planned_diff is not None
        assert (req.planned_diff.version, req.planned_diff.previous) == (1, {"0": 4})
        await client.submit(state, "limits.force", {"name": "cpu", "value": 6}, actor="dave")
        await client.approve(req.request_id, actor="alice")

        async def asked_again() -> MutationRequest:
            again = await client.get(req.request_id)
            assert again.status == RequestStatus.PENDING
            assert "approvals_reset" in [d.code for d in again.decisions]
            return again

        again = await assert_eventually(asked_again)
        await client.approve(req.request_id, actor="bob")
        done = await client.wait(req.request_id, timeout=30)
    assert again.planned_diff is not None
    assert (again.planned_diff.version, again.planned_diff.previous) == (2, {"0": 6})
    assert diffs.describe(again.planned_diff) == ["replace /cpu 6 → 16"]
    assert done.status == RequestStatus.EXECUTED
    assert done.applied_diff is not None
    assert diffs.same_change(done.planned_diff, done.applied_diff)


@pytest.mark.parametrize("mode", [BatchMode.ATOMIC, BatchMode.SEQUENTIAL])
async def test_each_applied_batch_item_records_its_change(
    dev_env: WorkflowEnvironment, sqlite_store: Store, mode: BatchMode
) -> None:
    first, second = _state(), _state()
    items = [
        BatchItem(state_id=first, mutation="limits.force", payload={"name": "cpu", "value": 2}),
        BatchItem(state_id=second, mutation="limits.force", payload={"name": "mem", "value": 3}),
        BatchItem(state_id=first, mutation="limits.force", payload={"name": "cpu", "value": 5}),
    ]
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        req = await client.submit_batch(items, mode=mode, actor="dave", wait=True, wait_timeout=30)
    assert req.status == RequestStatus.EXECUTED
    found = [
        (i.applied_diff.version, diffs.describe(i.applied_diff)) if i.applied_diff else None
        for i in req.items
    ]
    assert found == [
        (0, ["add /cpu 2"]),
        (0, ["add /mem 3"]),
        (1, ["replace /cpu 2 → 5"]),
    ]
    stored = sqlite_store.get_request(req.request_id)
    assert stored is not None
    assert [i.applied_diff for i in stored.items] == [i.applied_diff for i in req.items]
