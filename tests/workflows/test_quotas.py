"""Quotas enforced at execution, on real servers.

The slot that frees after ``per`` runs on the time-skipping server; a quota that rejects,
one met in a lane turn, a cancel while waiting and the replay of those histories run on the
dev server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator import MutationApp, PolicyContext, PolicyDecision, Quota, RequireApprovals
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.gates import GateKind, GateStatus
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers.workers import assert_eventually, running_mutator

HOUR = timedelta(hours=1)


def _add(state: dict[str, int], payload: dict[str, int]) -> dict[str, int]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def _two_approvers(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"bob"})


def quota_app() -> MutationApp:
    app = MutationApp()
    app.mutation("quota.add", quota=Quota(limit=2, per=HOUR, key="requester"))(_add)
    app.mutation(
        "quota.once", quota=Quota(limit=1, per=HOUR, key="mutation", on_exceeded="reject")
    )(_add)
    app.mutation("quota.reviewed", quota=Quota(limit=1, per=HOUR, key="mutation"))(_add)
    app.policy("quota.reviewed")(_two_approvers)
    return app


async def server_now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(UTC)


async def _settles(
    client: MutatorClient, request_id: str, status: RequestStatus
) -> MutationRequest:
    async def check() -> MutationRequest:
        found = await client.get(request_id)
        assert found.status == status
        return found

    return await assert_eventually(check)


def _quota_gate(req: MutationRequest) -> tuple[str, GateStatus, str]:
    gate = next(g for g in req.gates if g.kind == GateKind.QUOTA)
    return gate.name, gate.status, gate.detail


def _waits_for_quota(req: MutationRequest, name: str, used: str) -> datetime:
    assert (req.status, req.pending_reason) == (RequestStatus.PENDING, PendingReason.QUOTA)
    assert req.scheduled_for is not None
    gate_name, status, detail = _quota_gate(req)
    assert (gate_name, status) == (name, GateStatus.WAITING)
    assert detail == f"{used}; next slot at {req.scheduled_for.isoformat()}"
    return req.scheduled_for


async def test_a_quota_that_frees_after_per(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store, quota_app()) as client:
        before = await server_now(time_env)
        for state in ("q-1", "q-2"):
            done = await client.submit(state, "quota.add", {"amount": 1}, actor="alice")
            assert done.status == RequestStatus.EXECUTED
        # Another requester has slots of their own.
        other = await client.submit("q-9", "quota.add", {"amount": 1}, actor="bob")
        assert other.status == RequestStatus.EXECUTED
        held = await client.submit("q-3", "quota.add", {"amount": 5}, actor="alice")
        frees = _waits_for_quota(
            held, "requester alice", "2 of 2 executions of quota.add per 1h for requester alice"
        )
        assert before + HOUR <= frees <= await server_now(time_env) + HOUR
        assert await client.history("q-3") == []
        await time_env.sleep((frees - await server_now(time_env)).total_seconds() - 60)
        assert (await client.get(held.request_id)).status == RequestStatus.PENDING
        await time_env.sleep(120)
        done = await _settles(client, held.request_id, RequestStatus.EXECUTED)
        assert (await client.state("q-3")).data == {"value": 5}
        codes = [d.code for d in done.decisions]
        assert codes[:4] == ["submitted", "approved", "pending", "quota_free"]
        freed = next(d for d in done.decisions if d.code == "quota_free")
        assert freed.reason.startswith("a slot of quota requester alice is free at ")
        assert _quota_gate(done)[1] == GateStatus.PASSED
        assert done.scheduled_for is None


async def test_a_quota_that_rejects_and_one_met_in_a_lane_turn(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, quota_app()) as client:
        first = await client.submit("qr-1", "quota.once", {"amount": 1}, actor="alice")
        assert first.status == RequestStatus.EXECUTED
        refused = await client.submit("qr-2", "quota.once", {"amount": 1}, actor="bob")
        assert refused.status == RequestStatus.REJECTED
        assert refused.rejection is not None
        assert refused.rejection.code == RejectionCode.QUOTA_EXCEEDED
        assert refused.rejection.reason.startswith(
            "quota mutation quota.once: 1 of 1 executions of quota.once per 1h for mutation "
            "quota.once; next slot at "
        )
        assert _quota_gate(refused)[1] == GateStatus.FAILED
        assert await client.history("qr-2") == []

        # Approved after a vote, the lane turn takes the one slot; the second waits.
        ids = []
        for state in ("ql-1", "ql-2"):
            req = await client.submit(state, "quota.reviewed", {"amount": 2}, actor="alice")
            await client.approve(req.request_id, actor="bob")
            ids.append(req.request_id)
        assert (await client.wait(ids[0], timeout=30)).status == RequestStatus.EXECUTED

        async def waits() -> MutationRequest:
            found = await client.get(ids[1])
            assert found.pending_reason == PendingReason.QUOTA
            return found

        held = await assert_eventually(waits)
        _waits_for_quota(
            held,
            "mutation quota.reviewed",
            "1 of 1 executions of quota.reviewed per 1h for mutation quota.reviewed",
        )
        assert [d.code for d in held.decisions][-2:] == ["lane_acquired", "pending"]
        canceled = await client.cancel(ids[1], actor="alice", reason="not today")
        assert canceled.status == RequestStatus.CANCELED
        assert await client.history("ql-2") == []
        histories = [
            await dev_env.client.get_workflow_handle(request_workflow_id(i)).fetch_history()
            for i in (refused.request_id, *ids)
        ]
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    for history in histories:
        await replayer.replay_workflow(history)


async def test_a_batch_cannot_go_round_a_quota(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    app = quota_app()
    app.mutation("free.add")(_add)
    async with running_mutator(dev_env, sqlite_store, app) as client:
        items = [
            {"state_id": "qb-1", "mutation": "free.add", "payload": {"amount": 1}},
            {"state_id": "qb-2", "mutation": "quota.once", "payload": {"amount": 1}},
        ]
        refused = await client.submit_batch(items, mode="independent", actor="alice")
        assert refused.status == RequestStatus.REJECTED
        assert refused.rejection is not None
        assert refused.rejection.code == RejectionCode.VALIDATION_FAILED
        assert refused.rejection.reason == (
            "item 1 (quota.once on qb-2): quota.once has a quota, which counts single requests "
            "only; submit it on its own"
        )
        assert await client.history("qb-1") == []
        assert await client.history("qb-2") == []
        # The quota is untouched: a single request still has its slot.
        alone = await client.submit("qb-2", "quota.once", {"amount": 1}, actor="alice")
        assert alone.status == RequestStatus.EXECUTED
