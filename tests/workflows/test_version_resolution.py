"""Version resolution under the three on_stale strategies, on a real dev server.

A request that waited for approvals resolves its version in its own activity, whose result
its event history shows; a request allowed at once resolves it in its execution.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.contracts import EXECUTE_ACTIVITY, RESOLVE_VERSION_ACTIVITY
from mutator.lane_contracts import ACQUIRE_LANE_ACTIVITY
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers import apps
from tests.helpers.histories import Step, request_events, resolutions, shape, steps
from tests.helpers.workers import assert_eventually, running_mutator


async def _pending_then_state_moves(
    client: MutatorClient, state_id: str, mutation: str, *, bump: int = 5
) -> MutationRequest:
    req = await client.submit(state_id, mutation, {"amount": 1}, actor="dave")
    assert req.status == RequestStatus.PENDING
    assert req.base_version == 0
    moved = await client.submit(state_id, "counter.add", {"amount": bump}, actor="alice")
    assert moved.status == RequestStatus.EXECUTED
    return req


async def _approve_twice(client: MutatorClient, request_id: str) -> MutationRequest:
    await client.approve(request_id, actor="alice")
    await client.approve(request_id, actor="bob")
    return await client.wait(request_id, timeout=20)


def _codes(req: MutationRequest) -> list[str]:
    return [d.code for d in req.decisions]


def _stale(state_id: str, strategy: str) -> dict[str, Any]:
    return {
        "outcome": "stale",
        "state_id": state_id,
        "base_version": 0,
        "current_version": 1,
        "strategy": strategy,
    }


def _current(state_id: str, version: int) -> dict[str, Any]:
    return {
        "outcome": "current",
        "state_id": state_id,
        "base_version": version,
        "current_version": version,
        "strategy": None,
    }


async def test_an_approved_request_resolves_its_version_in_its_own_activity(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("st-current", "reviewed.add", {"amount": 2}, actor="dave")
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.EXECUTED
        assert _codes(done).count("current") == 1
    events = await request_events(dev_env.client, req.request_id)
    assert resolutions(events) == [_current("st-current", 0)]
    found = steps(events)
    last_approval = max(i for i, step in enumerate(found) if step == Step("update", "approve"))
    resolution = found.index(Step("scheduled", RESOLVE_VERSION_ACTIVITY))
    queued = found.index(Step("scheduled", ACQUIRE_LANE_ACTIVITY))
    executed = found.index(Step("signal", "lane_executed"))
    assert last_approval < resolution < queued < executed


async def test_an_allowed_request_keeps_the_fast_path(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("st-fast", "counter.add", {"amount": 2}, actor="alice")
        assert req.status == RequestStatus.EXECUTED
    events = await request_events(dev_env.client, req.request_id)
    # Executed directly in its evaluation: one activity, no resolution, no lane.
    assert [s.name for s in steps(events) if s.kind == "scheduled"] == ["mutator.evaluate_request"]
    assert shape(events) == (14, 2)


async def test_reject_strategy_rejects_a_stale_request(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reject", "reviewed.add")
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE
        assert "base version 0, state is at version 1" in done.rejection.reason
        assert "stale" in _codes(done)
        assert "conflict" not in _codes(done)
        assert [h.version for h in await client.history("st-reject")] == [1]
    events = await request_events(dev_env.client, req.request_id)
    assert resolutions(events) == [_stale("st-reject", "reject")]
    assert Step("scheduled", EXECUTE_ACTIVITY) not in steps(events)
    assert Step("scheduled", ACQUIRE_LANE_ACTIVITY) not in steps(events)


async def test_reapprove_strategy_resets_approvals_against_the_new_base(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reapprove", "reapproved.add")
        await client.approve(req.request_id, actor="alice")
        await client.approve(req.request_id, actor="bob")

        async def back_to_pending() -> MutationRequest:
            found = await client.get(req.request_id)
            assert (found.status, found.pending_reason) == (
                RequestStatus.PENDING,
                PendingReason.APPROVAL,
            )
            return found

        again = await assert_eventually(back_to_pending)
        assert again.approvals == []
        assert again.base_version == 1
        assert "approvals_reset" in _codes(again)
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.EXECUTED
        assert done.resulting_version == 2
        assert (await client.state("st-reapprove")).data == {"value": 6}
    events = await request_events(dev_env.client, req.request_id)
    assert resolutions(events) == [_stale("st-reapprove", "reapprove"), _current("st-reapprove", 1)]


async def test_revalidate_strategy_executes_when_still_valid(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-revalidate", "revalidated.add")
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.EXECUTED
        assert "revalidated" in _codes(done)
        assert (await client.state("st-revalidate")).data == {"value": 6}
    events = await request_events(dev_env.client, req.request_id)
    assert resolutions(events) == [
        _stale("st-revalidate", "revalidate"),
        _current("st-revalidate", 1),
    ]


async def test_revalidate_strategy_rejects_when_policy_now_denies(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reval-deny", "revalidated.add", bump=150)
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.POLICY_DENIED
        assert "value is already at 100 or more" in done.rejection.reason
        assert [h.version for h in await client.history("st-reval-deny")] == [1]
    events = await request_events(dev_env.client, req.request_id)
    assert resolutions(events) == [_stale("st-reval-deny", "revalidate")]


async def test_expected_version_makes_an_allowed_request_stale(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        first = await client.submit(
            "st-expect", "counter.add", {"amount": 1}, actor="alice", expected_version=0
        )
        assert first.status == RequestStatus.EXECUTED
        second = await client.submit(
            "st-expect", "counter.add", {"amount": 1}, actor="alice", expected_version=0
        )
        assert second.status == RequestStatus.REJECTED
        assert second.rejection is not None
        assert second.rejection.code == RejectionCode.STALE
        assert [h.version for h in await client.history("st-expect")] == [1]


async def test_validators_run_on_the_state_an_allowed_request_executes_on(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await client.submit("st-neg", "counter.add", {"amount": 3}, actor="alice")
        refused = await client.submit("st-neg", "counter.add", {"amount": -5}, actor="alice")
        assert refused.status == RequestStatus.REJECTED
        assert refused.rejection is not None
        assert refused.rejection.code == RejectionCode.VALIDATION_FAILED
        assert "cannot go below zero" in refused.rejection.reason
        assert (await client.state("st-neg")).data == {"value": 3}


async def test_a_state_that_moves_after_resolution_is_a_conflict_at_execution(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """The state moves between resolution and execution: the compare-and-set refuses it.

    Resolution finds the state current, then another request changes it before this one
    executes: recorded as a conflict, then the stale strategy (reject).
    """
    state_id = "st-conflict"
    probe = apps.ExecutionProbe(gated={"mover"})
    apps.execution_gate.clear()
    try:
        async with running_mutator(dev_env, sqlite_store, apps.build_app(probe)) as client:
            req = await client.submit(state_id, "reviewed.add", {"amount": 1}, actor="dave")
            await client.approve(req.request_id, actor="alice")
            # Allowed at once on a free state: it holds the state inside its handler (a
            # direct execution) until the gate opens.
            mover = asyncio.create_task(
                client.submit(
                    state_id, "probe.add", {"state": state_id, "marker": "mover"}, actor="alice"
                )
            )

            async def mover_runs() -> None:
                assert probe.calls == [("mover", 0)]

            await assert_eventually(mover_runs)
            await client.approve(req.request_id, actor="bob")

            async def resolved() -> list[dict[str, Any]]:
                found = resolutions(await request_events(dev_env.client, req.request_id))
                assert found == [_current(state_id, 0)]
                return found

            await assert_eventually(resolved)
            apps.execution_gate.set()
            assert (await mover).status == RequestStatus.EXECUTED
            done = await client.wait(req.request_id, timeout=20)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE
        codes = _codes(done)
        assert codes.index("conflict") < codes.index("stale")
        assert [h.version for h in await client.history(state_id)] == [1]
    finally:
        apps.execution_gate.set()
