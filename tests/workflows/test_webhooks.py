"""Webhooks end to end: a real dev server, a real worker, a real local HTTP receiver.

The receiver verifies every signature with ``standardwebhooks``' own verifier.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.models import RequestStatus
from mutator.notifications import DeliverWebhookResult, Delivery, WebhookConfig, webhook_config
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.request_notify import NOTIFY_PATCH
from mutator.workflows.state_lane import StateLaneWorkflow
from mutator.workflows.webhook_delivery import WebhookDeliveryWorkflow
from tests.helpers.webhook_receiver import (
    Receiver,
    closed_port_url,
    new_secret,
    running_receiver,
)
from tests.helpers.workers import assert_eventually, running_mutator


def fast(url: str, secret: str, *, max_attempts: int = 5) -> WebhookConfig:
    config = webhook_config(
        url,
        secret,
        max_attempts=max_attempts,
        initial_retry_seconds=0.05,
        max_retry_seconds=0.2,
        timeout_seconds=5,
    )
    assert config is not None
    return config


async def _history(env: WorkflowEnvironment, workflow_id: str) -> WorkflowHistory:
    return await env.client.get_workflow_handle(workflow_id).fetch_history()


async def _events(receiver: Receiver, kind: str, count: int = 1) -> list[dict[str, object]]:
    async def check() -> list[dict[str, object]]:
        found = receiver.verified(kind)
        assert len(found) >= count, f"{kind}: {len(found)} of {count}"
        return found

    return await assert_eventually(check)


async def _deliveries(client: MutatorClient, request_id: str, count: int) -> list[Delivery]:
    async def check() -> list[Delivery]:
        found = await client.deliveries(request_id=request_id)
        assert len(found) >= count, found
        return found

    return await assert_eventually(check)


async def test_pending_then_executed_signed_and_recorded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    secret = new_secret()
    with running_receiver(secret) as receiver:
        webhook = fast(receiver.url, secret)
        async with running_mutator(dev_env, sqlite_store, webhook=webhook) as client:
            req = await client.submit("wh-1", "reviewed.add", {"amount": 3}, actor="dave")
            assert req.status == RequestStatus.PENDING
            [pending] = await _events(receiver, "request.pending")
            data = pending["data"]
            assert isinstance(data, dict)
            assert data["request_id"] == req.request_id
            assert data["status"] == "pending"
            assert data["pending_reason"] == "approval"
            assert data["eligible_approvers"] == ["alice", "bob", "carol"]
            assert data["approve_command"] == f"mutator approve {req.request_id} --actor <you>"
            assert [g["kind"] for g in data["gates"]] == ["approval"]
            await client.approve(req.request_id, actor="alice")
            await client.approve(req.request_id, actor="bob")
            done = await client.wait(req.request_id, timeout=30)
            assert done.status == RequestStatus.EXECUTED
            [executed] = await _events(receiver, "request.executed")
            assert executed["data"]["resulting_version"] == 1  # type: ignore[index]
            stored = await _deliveries(client, req.request_id, 2)
            assert [(d.event_type, d.attempt, d.status_code, d.delivered) for d in stored] == [
                ("request.pending", 1, 200, True),
                ("request.executed", 1, 200, True),
            ]
            assert stored[0].url == receiver.url
            # Each event's webhook-id is its event id, and only signed POSTs arrived.
            assert [r.headers["webhook-id"] for r in receiver.received] == [
                d.event_id for d in stored
            ]
            assert all(r.body is not None for r in receiver.received)
    # The request's history (with its child workflows) replays on this version.
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow, WebhookDeliveryWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(await _history(dev_env, request_workflow_id(req.request_id)))


async def test_a_request_executed_at_once_and_one_canceled_are_notified(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    secret = new_secret()
    with running_receiver(secret) as receiver:
        async with running_mutator(
            dev_env, sqlite_store, webhook=fast(receiver.url, secret)
        ) as client:
            direct = await client.submit("wh-2", "counter.add", {"amount": 1}, actor="dave")
            assert direct.status == RequestStatus.EXECUTED
            pending = await client.submit("wh-3", "reviewed.add", {"amount": 1}, actor="dave")
            await _events(receiver, "request.pending")
            await client.cancel(pending.request_id, actor="dave", reason="not needed")
            [executed] = await _events(receiver, "request.executed")
            [cancelled] = await _events(receiver, "request.cancelled")
    assert executed["data"]["request_id"] == direct.request_id  # type: ignore[index]
    data = cancelled["data"]
    assert isinstance(data, dict)
    assert (data["request_id"], data["status"]) == (pending.request_id, "canceled")
    assert "approve_command" not in data


async def test_a_receiver_failing_at_first_gets_the_event_again_with_the_same_id(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    secret = new_secret()
    with running_receiver(secret, fail_first=2) as receiver:
        async with running_mutator(
            dev_env, sqlite_store, webhook=fast(receiver.url, secret)
        ) as client:
            req = await client.submit("wh-4", "counter.add", {"amount": 2}, actor="dave")
            # The request is not held back by the failing receiver.
            assert req.status == RequestStatus.EXECUTED
            stored = await _deliveries(client, req.request_id, 3)
            assert [(d.attempt, d.status_code, d.delivered) for d in stored] == [
                (1, 503, False),
                (2, 503, False),
                (3, 200, True),
            ]
            assert stored[0].error.startswith("HTTP 503")
            assert len({d.event_id for d in stored}) == 1
            assert {r.headers["webhook-id"] for r in receiver.received} == {stored[0].event_id}
            assert len(receiver.verified("request.executed")) == 1
            result = await dev_env.client.get_workflow_handle(
                f"webhook-delivery:{stored[0].event_id}"
            ).result()
            assert DeliverWebhookResult.model_validate(result).delivered


async def test_a_receiver_down_for_good_never_holds_the_request(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    webhook = fast(closed_port_url(), new_secret(), max_attempts=3)
    async with running_mutator(dev_env, sqlite_store, webhook=webhook) as client:
        req = await client.submit("wh-5", "counter.add", {"amount": 2}, actor="dave")
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        # The request's workflow completes while its delivery still retries.
        request_handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await request_handle.result()
        described = await request_handle.describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED
        stored = await _deliveries(client, req.request_id, 3)
        handle = dev_env.client.get_workflow_handle(f"webhook-delivery:{stored[0].event_id}")
        ended = DeliverWebhookResult.model_validate(await handle.result())
        assert not ended.delivered
        assert "gave up after 3 attempts" in ended.error
        stored = await client.deliveries(request_id=req.request_id)
        assert [(d.attempt, d.status_code, d.delivered) for d in stored] == [
            (1, None, False),
            (2, None, False),
            (3, None, False),
        ]
        assert all("refused" in d.error.lower() for d in stored), stored


async def test_without_a_webhook_a_request_spends_nothing_on_notifications(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        direct = await client.submit("wh-6", "counter.add", {"amount": 1}, actor="dave")
        pending = await client.submit("wh-7", "reviewed.add", {"amount": 1}, actor="dave")
        await client.cancel(pending.request_id, actor="dave")
        await client.wait(pending.request_id, timeout=30)
        for request_id in (direct.request_id, pending.request_id):
            history = await _history(dev_env, request_workflow_id(request_id))
            kinds = {event.event_type for event in history.events}
            assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in kinds
            markers = [
                event
                for event in history.events
                if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            ]
            assert not any(NOTIFY_PATCH.encode() in m.SerializeToString() for m in markers)
            assert await client.deliveries(request_id=request_id) == []


async def test_a_break_glass_request_is_announced_as_an_emergency(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    from tests.workflows.test_break_glass import emergency_app

    secret = new_secret()
    with running_receiver(secret) as receiver:
        async with running_mutator(
            dev_env, sqlite_store, emergency_app(0), webhook=fast(receiver.url, secret)
        ) as client:
            req = await client.submit(
                "wh-bg",
                "bg.frozen",
                {"amount": 1},
                actor="carol",
                reason="INC-12: payments down",
                break_glass=True,
            )
            assert req.status == RequestStatus.EXECUTED
            [declared] = await _events(receiver, "request.break_glass")
            data = declared["data"]
            assert isinstance(data, dict)
            assert data["request_id"] == req.request_id
            assert data["break_glass"]["declared_by"] == "carol"
            assert data["break_glass"]["reason"] == "INC-12: payments down"
            await _events(receiver, "request.executed")
            stored = await _deliveries(client, req.request_id, 2)
            assert [d.event_type for d in stored] == ["request.break_glass", "request.executed"]
