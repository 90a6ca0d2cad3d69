"""Dependencies (``submit --after``) end to end on a real Temporal dev server and store."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.client import MutatorClient
from mutator.client_messages import workflow_exists
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorInputError
from mutator.gates import Gate, GateKind, GateStatus
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER, MutatorWorkers
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers import apps
from tests.helpers.workers import assert_eventually, new_worker, running_mutator


def _dependency(req: MutationRequest, name: str) -> Gate:
    return next(g for g in req.gates if (g.kind, g.name) == (GateKind.DEPENDENCY, name))


async def _pending_review(client: MutatorClient, state_id: str, request_id: str) -> None:
    first = await client.submit(
        state_id, "reviewed.add", {"amount": 7}, actor="dave", request_id=request_id
    )
    assert (first.status, first.pending_reason) == (RequestStatus.PENDING, "approval")


async def test_waits_until_its_dependency_is_executed(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-1", "dep-1-first")
        second = await client.submit(
            "dep-1", "counter.add", {"amount": 5}, actor="erin", after=["dep-1-first"]
        )
        assert (second.status, second.pending_reason) == (
            RequestStatus.PENDING,
            PendingReason.DEPENDENCY,
        )
        assert second.after == ["dep-1-first"]
        assert second.gates == [
            Gate(
                kind=GateKind.DEPENDENCY,
                name="dep-1-first",
                detail="waits for dep-1-first to be executed",
            )
        ]
        stored = await client.get(second.request_id)
        assert stored.pending_reason == PendingReason.DEPENDENCY
        # The UI's current details list the outstanding gate.
        metadata = await dev_env.client.get_workflow_handle(
            request_workflow_id(second.request_id)
        ).query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details == (
            "**pending** (dependency)\n\nwaiting for:\n"
            "- dependency dep-1-first: waits for dep-1-first to be executed"
        )
        await client.approve("dep-1-first", actor="alice")
        await client.approve("dep-1-first", actor="bob")
        done = await client.wait(second.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        # Evaluated after its dependency: on the state the dependency left.
        assert done.resulting_version == 2
        assert (await client.state("dep-1")).data == {"value": 12}
        assert _dependency(done, "dep-1-first").status == GateStatus.PASSED
        codes = [(d.code, d.actor) for d in done.decisions]
        assert codes[:3] == [
            ("submitted", "erin"),
            ("pending", "system"),
            ("dependency_met", "system"),
        ]
        assert ("approved", "policy") in codes
        history = await client.history("dep-1")
        assert [h.request_id for h in history] == ["dep-1-first", second.request_id]


async def test_dependency_not_executed_rejects_naming_it(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-2", "dep-2-first")
        second = await client.submit(
            "dep-2", "counter.add", {"amount": 5}, actor="erin", after=["dep-2-first"]
        )
        await client.reject("dep-2-first", actor="carol", reason="not now")
        done = await client.wait(second.request_id, timeout=30)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.DEPENDENCY_FAILED
        assert done.rejection.reason == "dependency dep-2-first is rejected, not executed"
        assert _dependency(done, "dep-2-first").status == GateStatus.FAILED
        assert done.decisions[-1].code == "rejected:dependency_failed"
        assert await client.history("dep-2") == []


async def test_dependencies_already_ended_at_submission(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        executed = await client.submit("dep-3", "counter.add", {"amount": 1}, actor="erin")
        denied = await client.submit("dep-3", "counter.add", {"amount": 5000}, actor="erin")
        assert (executed.status, denied.status) == (RequestStatus.EXECUTED, RequestStatus.REJECTED)
        runs = await client.submit(
            "dep-3", "counter.add", {"amount": 2}, actor="erin", after=[executed.request_id]
        )
        assert (await client.wait(runs.request_id, timeout=30)).status == RequestStatus.EXECUTED
        refused = await client.submit(
            "dep-3",
            "counter.add",
            {"amount": 2},
            actor="erin",
            after=[executed.request_id, denied.request_id],
        )
        done = await client.wait(refused.request_id, timeout=30)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.DEPENDENCY_FAILED
        assert denied.request_id in done.rejection.reason
        assert (await client.state("dep-3")).data == {"value": 3}


async def test_a_batch_waits_for_several_then_needs_approvals(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-4a", "dep-4-a")
        await _pending_review(client, "dep-4b", "dep-4-b")
        batch = await client.submit_batch(
            [
                {"state_id": "dep-4a", "mutation": "reviewed.add", "payload": {"amount": 1}},
                {"state_id": "dep-4b", "mutation": "reviewed.add", "payload": {"amount": 1}},
            ],
            mode="atomic",
            actor="erin",
            after=["dep-4-a", "dep-4-b"],
        )
        assert batch.pending_reason == PendingReason.DEPENDENCY
        assert [g.name for g in batch.gates] == ["dep-4-a", "dep-4-b"]
        for dependency in ("dep-4-a", "dep-4-b"):
            await client.approve(dependency, actor="alice")
            await client.approve(dependency, actor="bob")
            assert (await client.wait(dependency, timeout=30)).status == RequestStatus.EXECUTED
        # Both executed: evaluated now, and its policies ask for approvals.

        async def awaits_votes() -> MutationRequest:
            current = await client.get(batch.request_id)
            assert current.pending_reason == PendingReason.APPROVAL
            return current

        waiting = await assert_eventually(awaits_votes, timeout=30)
        assert [(g.kind, g.status) for g in waiting.gates] == [
            (GateKind.DEPENDENCY, GateStatus.PASSED),
            (GateKind.DEPENDENCY, GateStatus.PASSED),
            (GateKind.APPROVAL, GateStatus.WAITING),
        ]
        await client.approve(batch.request_id, actor="alice")
        await client.approve(batch.request_id, actor="carol")
        done = await client.wait(batch.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert (await client.state("dep-4a")).data == {"value": 8}


async def test_cancel_while_waiting_ends_the_wait(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-5", "dep-5-first")
        second = await client.submit(
            "dep-5", "counter.add", {"amount": 5}, actor="erin", after=["dep-5-first"]
        )
        canceled = await client.cancel(second.request_id, actor="erin", reason="not needed")
        assert canceled.status == RequestStatus.CANCELED
        assert (await client.wait(second.request_id, timeout=30)).status == RequestStatus.CANCELED
        await client.approve("dep-5-first", actor="alice")
        await client.approve("dep-5-first", actor="bob")
        assert (await client.wait("dep-5-first", timeout=30)).status == RequestStatus.EXECUTED
        stored = await client.get(second.request_id)
        assert stored.status == RequestStatus.CANCELED
        assert (await client.state("dep-5")).data == {"value": 7}


async def test_terminated_dependency_rejects(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-6", "dep-6-first")
        second = await client.submit(
            "dep-6", "counter.add", {"amount": 5}, actor="erin", after=["dep-6-first"]
        )
        handle = dev_env.client.get_workflow_handle(request_workflow_id("dep-6-first"))
        await handle.terminate("an operator stops it")
        assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
        done = await client.wait(second.request_id, timeout=30)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.DEPENDENCY_FAILED
        assert "dep-6-first: its workflow ended without a final status" in done.rejection.reason


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (["nobody-1"], "after: no request with id 'nobody-1'"),
        (["dep-7-self"], "after: a request cannot wait for itself ('dep-7-self')"),
        (["bad id!"], "after: 'bad id!' is not a request id"),
    ],
)
async def test_bad_after_is_refused_and_nothing_starts(
    dev_env: WorkflowEnvironment, sqlite_store: Store, after: list[str], message: str
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        with pytest.raises(
            MutatorInputError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            await client.submit(
                "dep-7",
                "counter.add",
                {"amount": 1},
                actor="erin",
                request_id="dep-7-self",
                after=after,
            )
        assert sqlite_store.get_request("dep-7-self") is None
        assert not await workflow_exists(dev_env.client, "dep-7-self")
        assert await client.history("dep-7") == []


async def test_dependency_histories_replay(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await _pending_review(client, "dep-8", "dep-8-first")
        runs = await client.submit(
            "dep-8", "counter.add", {"amount": 5}, actor="erin", after=["dep-8-first"]
        )
        canceled = await client.submit(
            "dep-8", "counter.add", {"amount": 5}, actor="erin", after=["dep-8-first"]
        )
        await client.cancel(canceled.request_id, actor="erin", reason="not needed")
        await client.approve("dep-8-first", actor="alice")
        await client.approve("dep-8-first", actor="bob")
        refused = await client.submit(
            "dep-8", "counter.add", {"amount": 1}, actor="erin", after=[canceled.request_id]
        )
        ids = [runs.request_id, canceled.request_id, refused.request_id]
        ends = [(await client.wait(i, timeout=30)).status for i in ids]
        assert ends == [RequestStatus.EXECUTED, RequestStatus.CANCELED, RequestStatus.REJECTED]
        histories = [
            await dev_env.client.get_workflow_handle(request_workflow_id(i)).fetch_history()
            for i in ids
        ]
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    for history in histories:
        await replayer.replay_workflow(history)


@pytest.mark.slow
@pytest.mark.fault
async def test_the_wait_resumes_on_a_new_worker(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """The worker that ran the wait stops; the one started next takes the wait over.

    Its attempt ends with the worker (or within the heartbeat timeout, 30 s, when the worker
    cannot say so), and the next attempt runs on the new worker.
    """
    sqlite_store.register_mutations({n: m.on_stale for n, m in apps.app.mutations.items()})
    task_queue = f"tq-{uuid.uuid4()}"

    def client_of(workers: MutatorWorkers) -> MutatorClient:
        return MutatorClient(dev_env.client, sqlite_store, task_queue=workers.task_queue)

    first_worker = new_worker(dev_env.client, sqlite_store, task_queue=task_queue)
    async with first_worker:
        client = client_of(first_worker)
        await _pending_review(client, "dep-9", "dep-9-first")
        second = await client.submit(
            "dep-9", "counter.add", {"amount": 5}, actor="erin", after=["dep-9-first"]
        )
        assert second.pending_reason == PendingReason.DEPENDENCY
    second_worker = new_worker(dev_env.client, sqlite_store, task_queue=task_queue)
    async with second_worker:
        client = client_of(second_worker)
        await client.approve("dep-9-first", actor="alice")
        await client.approve("dep-9-first", actor="bob")
        done = await client.wait(second.request_id, timeout=60)
        assert done.status == RequestStatus.EXECUTED
        assert (await client.state("dep-9")).data == {"value": 12}
