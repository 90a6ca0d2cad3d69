"""Core execution concurrency: the MaxConcurrentMutations cap and per-state FIFO lanes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from mutator.activities import LaneSettings
from mutator.app import MutationApp
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorInputError, MutatorRefused
from mutator.lane_contracts import LaneStatus, lane_workflow_id
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from mutator.workers import MutatorWorkers, build_workers
from tests.helpers import apps
from tests.helpers.workers import assert_eventually, new_worker, running_mutator


@pytest.fixture(autouse=True)
def open_gate() -> Iterator[None]:
    apps.execution_gate.set()
    yield
    apps.execution_gate.set()


def _token(req: MutationRequest) -> int:
    """The fencing token it executed under: from its lane, or taken directly."""
    held = [
        d
        for d in req.decisions
        if d.code == "lane_acquired" or (d.code == "executing" and "fencing token" in d.reason)
    ]
    assert held, f"{req.request_id} never held its state"
    return int(held[-1].reason.split()[-1])


def _via_lane(req: MutationRequest) -> bool:
    return any(d.code == "lane_acquired" for d in req.decisions)


async def _probe(
    client: MutatorClient, state_id: str, marker: str, *, expected_version: int | None = None
) -> MutationRequest:
    return await client.submit(
        state_id,
        "probe.add",
        {"state": state_id, "marker": marker},
        actor="alice",
        request_id=f"{state_id}-{marker}",
        expected_version=expected_version,
    )


async def test_cap_bounds_executions_running_at_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0.4)
    async with running_mutator(
        dev_env, sqlite_store, apps.build_app(execution_probe), max_concurrent_mutations=2
    ) as client:
        states = [f"cap-{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
        done = await asyncio.gather(*(_probe(client, s, "m") for s in states))
        done = [await client.wait(r.request_id, timeout=30) for r in done]
    assert [r.status for r in done] == [RequestStatus.EXECUTED] * 8
    assert execution_probe.peak_total == 2
    assert len(execution_probe.calls) == 8


def test_cap_below_one_is_refused(dev_env: WorkflowEnvironment, sqlite_store: Store) -> None:
    bad_values: list[Any] = [0, -3, "many"]
    for bad in bad_values:
        with pytest.raises(MutatorInputError, match="max_concurrent_mutations must be an integer"):
            build_workers(
                dev_env.client,
                app=apps.app,
                store=sqlite_store,
                task_queue="x",
                max_concurrent_mutations=bad,
            )


async def test_one_state_runs_fifo_one_at_a_time(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0.02)
    state_id = f"hot-{uuid.uuid4().hex[:6]}"
    async with running_mutator(dev_env, store, apps.build_app(execution_probe)) as client:
        submitted = await asyncio.gather(
            *(_probe(client, state_id, f"m{i:02d}") for i in range(20))
        )
        done = [await client.wait(r.request_id, timeout=60) for r in submitted]
    assert all(r.status == RequestStatus.EXECUTED for r in done)
    history = await client.history(state_id)
    assert [h.version for h in history] == list(range(1, 21))
    # Ready order is the lane's grant order: fencing tokens, increasing, match versions.
    by_token = sorted(done, key=_token)
    assert [r.resulting_version for r in by_token] == list(range(1, 21))
    assert [h.request_id for h in history] == [r.request_id for r in by_token]
    # No overlap and no compare-and-set retry: each handler ran once, on the previous value.
    assert execution_probe.peak_per_state[state_id] == 1
    assert sorted(value for _, value in execution_probe.calls) == list(range(20))
    assert len(execution_probe.calls) == 20
    assert not [d for r in done for d in r.decisions if d.code in ("conflict", "lease_lost")]


async def test_pending_request_never_blocks_its_state(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        waiting = await client.submit("lane-pending", "reapproved.add", {"amount": 1}, actor="dave")
        assert waiting.status == RequestStatus.PENDING
        done = await client.submit("lane-pending", "counter.add", {"amount": 2}, actor="alice")
        assert done.status == RequestStatus.EXECUTED


def _short_leases(
    env: WorkflowEnvironment, store: Store, app: MutationApp
) -> tuple[MutatorWorkers, MutatorClient]:
    """Workers whose executions may take 2 s at most, and a client for them."""
    workers = new_worker(
        env.client,
        store,
        app=app,
        lane_settings=LaneSettings(lease_seconds=1, execution_timeout_seconds=2),
    )
    return workers, MutatorClient(env.client, store, task_queue=workers.task_queue)


async def _assert_only_new_applied(client: MutatorClient, state_id: str) -> None:
    """The fenced-out "old" execution left no trace; "new" made version 1."""
    history = await client.history(state_id)
    assert [(h.version, h.request_id) for h in history] == [(1, f"{state_id}-new")]
    assert (await client.state(state_id)).data == {"value": 1, "last": "new"}


async def test_expired_lease_passes_on_and_fences_the_old_holder(
    dev_env: WorkflowEnvironment, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A lane holder whose lease expired cannot apply, even though its execution still runs."""
    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"old"})
    state_id = f"fence-{uuid.uuid4().hex[:6]}"
    # The old execution hangs in its handler past the execution time limit.
    workers, client = _short_leases(dev_env, sqlite_store, apps.build_app(execution_probe))
    async with workers:
        apps.execution_gate.clear()
        # An expected version sends it through the lane (resolution under the lease).
        first = asyncio.create_task(_probe(client, state_id, "old", expected_version=0))

        async def old_is_executing() -> None:
            assert ("old", 0) in execution_probe.calls

        await assert_eventually(old_is_executing)
        second = await _probe(client, state_id, "new")
        second = await client.wait(second.request_id, timeout=30)
        assert second.status == RequestStatus.EXECUTED
        assert _via_lane(second)
        assert _token(second) == 2
        old = await client.wait(f"{state_id}-old", timeout=30)
        assert old.status == RequestStatus.FAILED
        assert old.error is not None
        assert "lease on" in old.error
        assert "expired" in old.error
        lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))
        status = await lane.query("status", result_type=LaneStatus)
        assert status.expirations == 1
        # Now let the abandoned handler return and try to commit: the fence refuses it.
        with caplog.at_level(logging.INFO):
            apps.execution_gate.set()
            await first

            async def old_attempt_refused() -> None:
                assert any("below the fence" in r.getMessage() for r in caplog.records)

            await assert_eventually(old_attempt_refused)
    assert sqlite_store.fence(state_id) == 2
    await _assert_only_new_applied(client, state_id)


async def test_direct_handler_past_its_limit_fails_is_fenced_and_the_next_applies(
    dev_env: WorkflowEnvironment, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A direct execution whose handler outlives its limit fails and cannot apply; the next
    request waits for the claim, then runs above its token."""
    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"old"})
    state_id = f"direct-{uuid.uuid4().hex[:6]}"
    workers, client = _short_leases(dev_env, store, apps.build_app(execution_probe))
    async with workers:
        apps.execution_gate.clear()
        first = asyncio.create_task(_probe(client, state_id, "old"))

        async def old_is_executing_directly() -> None:
            assert ("old", 0) in execution_probe.calls
            [claim] = store.claims(state_id)
            assert (claim.kind, claim.token) == ("direct", 1)

        await assert_eventually(old_is_executing_directly)
        second = await _probe(client, state_id, "new")
        second = await client.wait(second.request_id, timeout=30)
        assert second.status == RequestStatus.EXECUTED
        # The given-up claim was fenced (fence 2): the next holder is above it (through the
        # lane, or directly if the second request came only after the release).
        assert _token(second) == 3
        old = await client.wait(f"{state_id}-old", timeout=30)
        assert old.status == RequestStatus.FAILED
        assert old.error is not None
        assert "ran past its limit of 2 s" in old.error
        # Now let the abandoned handler return: the store refuses its change.
        with caplog.at_level(logging.INFO):
            apps.execution_gate.set()
            await first

            async def abandoned_attempt_refused() -> None:
                assert any("below the fence" in r.getMessage() for r in caplog.records)

            await assert_eventually(abandoned_attempt_refused)
    await _assert_only_new_applied(client, state_id)


async def test_lone_request_executes_directly_and_leaves_no_claim(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0)
    state_id = f"solo-{uuid.uuid4().hex[:6]}"
    async with running_mutator(dev_env, sqlite_store, apps.build_app(execution_probe)) as client:
        for i in range(3):
            done = await _probe(client, state_id, f"m{i}")
            assert done.status == RequestStatus.EXECUTED
            assert not _via_lane(done)
            assert _token(done) == i + 1
        assert sqlite_store.claims(state_id) == []
        lanes = [
            w
            async for w in dev_env.client.list_workflows(
                f'WorkflowId = "{lane_workflow_id(state_id)}"'
            )
        ]
    assert lanes == []  # no lane workflow was needed
    assert [h.version for h in await client.history(state_id)] == [1, 2, 3]


async def test_idle_lane_closes_and_restarts_without_losing_requests(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0)
    state_id = f"idle-{uuid.uuid4().hex[:6]}"
    async with running_mutator(
        dev_env,
        sqlite_store,
        apps.build_app(execution_probe),
        lane_settings=LaneSettings(idle_seconds=0.3),
    ) as client:
        lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))
        for i in range(6):
            # Expected versions send them through the lane (a lone request would not need it).
            await _probe(client, state_id, f"m{i}", expected_version=i)
            if i % 2:

                async def closed() -> None:
                    desc = await lane.describe()
                    assert desc.status == WorkflowExecutionStatus.COMPLETED

                await assert_eventually(closed)
            else:
                # Arrive right around the moment the idle lane decides to close.
                await asyncio.sleep(0.3)
        history = await client.history(state_id)
    assert [h.version for h in history] == list(range(1, 7))
    runs = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "{lane.id}"')]
    assert len(runs) >= 3


async def test_lane_continues_as_new_with_its_queue(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0.01)
    state_id = f"can-{uuid.uuid4().hex[:6]}"
    async with running_mutator(
        dev_env,
        sqlite_store,
        apps.build_app(execution_probe),
        lane_settings=LaneSettings(max_history_events=100),
    ) as client:
        submitted = await asyncio.gather(
            *(_probe(client, state_id, f"m{i:02d}") for i in range(15))
        )
        done = [await client.wait(r.request_id, timeout=60) for r in submitted]
        lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))
        status = await lane.query("status", result_type=LaneStatus)
    assert all(r.status == RequestStatus.EXECUTED for r in done)
    assert [h.version for h in await client.history(state_id)] == list(range(1, 16))
    assert sorted(_token(r) for r in done) == list(range(1, 16))
    # The first ones may find the state free and execute directly; the rest queue.
    assert status.grants == sum(_via_lane(r) for r in done) >= 10
    runs = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "{lane.id}"')]
    assert len(runs) >= 2


async def test_locks_lists_holder_queue_and_lease(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"held"})
    state_id = f"locks-{uuid.uuid4().hex[:6]}"
    async with running_mutator(dev_env, sqlite_store, apps.build_app(execution_probe)) as client:
        apps.execution_gate.clear()
        held = asyncio.create_task(_probe(client, state_id, "held"))

        async def held_is_executing() -> None:
            assert ("held", 0) in execution_probe.calls

        await assert_eventually(held_is_executing)
        queued = asyncio.create_task(_probe(client, state_id, "queued"))

        async def visible() -> None:
            locks = [lock for lock in await client.locks() if lock.state_id == state_id]
            assert len(locks) == 1
            lock = locks[0]
            assert lock.holder_request_id == f"{state_id}-held"
            assert lock.fencing_token == 1
            assert lock.queued_request_ids == [f"{state_id}-queued"]
            assert lock.queue_length == 1
            assert lock.acquired_at is not None
            assert lock.expires_at is not None
            assert lock.expires_at > lock.acquired_at
            assert lock.stale is False

        await assert_eventually(visible)
        apps.execution_gate.set()
        await asyncio.gather(held, queued)
        done = await client.wait(f"{state_id}-queued", timeout=30)
        assert done.status == RequestStatus.EXECUTED


async def test_lane_is_reentrant_for_its_holder_and_others_wait(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    from temporalio.worker import Worker

    from mutator.activities import LaneActivities
    from mutator.workflows.state_lane import StateLaneWorkflow
    from tests.helpers.lane_owner_workflow import NestedLaneOwner

    state_id = f"nest-{uuid.uuid4().hex[:6]}"
    task_queue = f"tq-{uuid.uuid4()}"
    lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))

    async def lane_status() -> LaneStatus:
        status: LaneStatus = await lane.query("status", result_type=LaneStatus)
        return status

    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=[StateLaneWorkflow, NestedLaneOwner],
        activities=LaneActivities(sqlite_store).all(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=2),
    ):
        first = await dev_env.client.start_workflow(
            NestedLaneOwner.run, state_id, id=f"owner-a-{state_id}", task_queue=task_queue
        )

        async def nested() -> None:
            grants, _ = await first.query(NestedLaneOwner.progress)
            assert grants == 2  # the second, nested acquire did not wait for itself
            status = await lane_status()
            assert status.holder is not None
            assert status.holder.depth == 2

        await assert_eventually(nested)
        second = await dev_env.client.start_workflow(
            NestedLaneOwner.run, state_id, id=f"owner-b-{state_id}", task_queue=task_queue
        )

        async def queued() -> None:
            status = await lane_status()
            assert [e.owner for e in status.queue] == [second.id]

        await assert_eventually(queued)
        await first.signal(NestedLaneOwner.proceed)

        async def still_held_once() -> None:
            assert (await first.query(NestedLaneOwner.progress))[1] == 1
            status = await lane_status()
            assert status.holder is not None
            assert (status.holder.owner, status.holder.depth) == (first.id, 1)
            assert [e.owner for e in status.queue] == [second.id]

        await assert_eventually(still_held_once)
        await first.signal(NestedLaneOwner.proceed)
        assert await first.result() == [1, 1]

        async def passed_on() -> None:
            status = await lane_status()
            assert status.holder is not None
            assert status.holder.owner == second.id

        await assert_eventually(passed_on)
        await second.signal(NestedLaneOwner.proceed)
        await second.signal(NestedLaneOwner.proceed)
        assert await second.result() == [2, 2]


async def test_state_goes_back_to_direct_execution_when_its_lane_is_done(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0)
    state_id = f"back-{uuid.uuid4().hex[:6]}"
    async with running_mutator(
        dev_env,
        store,
        apps.build_app(execution_probe),
        lane_settings=LaneSettings(idle_seconds=0.5),
    ) as client:
        # A lane turn that applies takes its claim with it: the next one is direct again.
        first = await _probe(client, state_id, "lane", expected_version=0)
        assert first.status == RequestStatus.EXECUTED
        assert _via_lane(first)
        assert store.claims(state_id) == []
        second = await _probe(client, state_id, "direct")
        assert second.status == RequestStatus.EXECUTED
        assert not _via_lane(second)
        # A lane turn that fails leaves its claim until the lane closes ...
        failed = await client.submit(
            state_id, "broken.explode", {}, actor="alice", expected_version=2
        )
        failed = await client.wait(failed.request_id, timeout=30)
        assert failed.status == RequestStatus.FAILED
        assert _via_lane(failed)
        assert [c.kind for c in store.claims(state_id)] == ["lane"]
        blocked = await _probe(client, state_id, "behind")
        assert blocked.status == RequestStatus.EXECUTED
        assert _via_lane(blocked)
        lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))

        async def closed() -> None:
            desc = await lane.describe()
            assert desc.status == WorkflowExecutionStatus.COMPLETED

        await assert_eventually(closed)
        # ... which forgets every request it served.
        assert store.claims(state_id) == []
        last = await _probe(client, state_id, "again")
        assert last.status == RequestStatus.EXECUTED
        assert not _via_lane(last)
    assert [h.version for h in await client.history(state_id)] == [1, 2, 3, 4]
    tokens = [_token(r) for r in (first, second, blocked, last)]
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 4


async def test_request_terminated_while_waiting_is_not_executed(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"held"})
    state_id = f"term-{uuid.uuid4().hex[:6]}"
    async with running_mutator(dev_env, sqlite_store, apps.build_app(execution_probe)) as client:
        apps.execution_gate.clear()
        held = asyncio.create_task(_probe(client, state_id, "held", expected_version=0))

        async def held_is_executing() -> None:
            assert ("held", 0) in execution_probe.calls

        await assert_eventually(held_is_executing)
        queued = asyncio.create_task(_probe(client, state_id, "queued"))

        async def is_queued() -> None:
            owners = [c.owner for c in sqlite_store.claims(state_id) if c.kind == "lane"]
            assert request_workflow_id(f"{state_id}-queued") in owners

        await assert_eventually(is_queued)
        await dev_env.client.get_workflow_handle(
            request_workflow_id(f"{state_id}-queued")
        ).terminate("an operator stops it")
        # Admission answers within 10 s: before the termination (it is then still
        # `approved`), or after it, when the submit call says the request ended.
        (answered,) = await asyncio.gather(queued, return_exceptions=True)
        if isinstance(answered, BaseException):
            assert isinstance(answered, MutatorRefused), answered
            assert "ended before its submission was answered" in str(answered)
        else:
            assert answered.status == RequestStatus.APPROVED
        apps.execution_gate.set()
        await held
        after = await _probe(client, state_id, "after")
        after = await client.wait(after.request_id, timeout=30)
    assert after.status == RequestStatus.EXECUTED
    history = await client.history(state_id)
    assert [h.request_id for h in history] == [f"{state_id}-held", f"{state_id}-after"]
    assert [marker for marker, _ in execution_probe.calls] == ["held", "after"]
