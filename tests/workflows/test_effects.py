"""Side effects end to end: a real dev server, a real worker, a real store and receiver.

Events are written with the change and delivered after it, at least once, with their
stable id, to ``@app.effect`` handlers (a failing one is retried, and recorded) and to the
webhook (signatures verified by ``standardwebhooks``' own verifier).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.activities.effects import EFFECT_MAX_ATTEMPTS, effects_workflow_id
from mutator.activities.lane_activities import LaneActivities, LaneSettings
from mutator.activities.outcomes import change_for
from mutator.activities.request_activities import RequestActivities
from mutator.client import MutatorClient
from mutator.contracts import EXECUTION_QUEUE_SUFFIX, ExecuteInput
from mutator.effects import EffectRecord, EffectsDeliveryResult
from mutator.models import BatchMode, RequestStatus
from mutator.notifications import webhook_config
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.effects_delivery import EffectsDeliveryWorkflow
from tests.helpers import effects_app
from tests.helpers.effects_app import FLAKY_FAILURES, app, calls
from tests.helpers.records import executed
from tests.helpers.webhook_receiver import new_secret, running_receiver
from tests.helpers.workers import assert_eventually, running_mutator


def state_id() -> str:
    return f"shop-{uuid.uuid4().hex[:12]}"


async def _effects(
    client: MutatorClient, request_id: str, done: int, *, count: int
) -> list[EffectRecord]:
    """The request's events once ``done`` handler attempts (or webhook sends) succeeded."""

    async def check() -> list[EffectRecord]:
        found = await client.effects(request_id=request_id)
        assert len(found) == count, found
        delivered = sum(a.delivered for r in found for a in r.attempts) + sum(
            d.delivered for r in found for d in r.webhook
        )
        assert delivered >= done, found
        return found

    return await assert_eventually(check, timeout=30)


async def _delivery_result(env: WorkflowEnvironment, change_key: str) -> EffectsDeliveryResult:
    handle = env.client.get_workflow_handle(
        effects_workflow_id(change_key), result_type=EffectsDeliveryResult
    )
    result: EffectsDeliveryResult = await handle.result()
    return result


async def _no_delivery(env: WorkflowEnvironment, change_key: str) -> None:
    with pytest.raises(RPCError) as raised:
        await env.client.get_workflow_handle(effects_workflow_id(change_key)).describe()
    assert raised.value.status == RPCStatusCode.NOT_FOUND


async def test_each_event_reaches_its_handlers_a_failing_one_retried_and_recorded(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    """On SQLite and on PostgreSQL."""
    async with running_mutator(dev_env, store, app) as client:
        req = await client.submit(
            state_id(), "shop.sell", {"sku": "A-1", "invoice": 30}, actor="dave"
        )
        # Executed at once: the request never waits for its effects.
        assert req.status == RequestStatus.EXECUTED
        sold, invoice = await _effects(client, req.request_id, 2, count=2)
        result = await _delivery_result(dev_env, req.request_id)
        again = await client.effects(request_id=req.request_id)
    assert (result.delivered, result.failed) == (2, [])
    # The delivery's history, with its retried activity, replays on this version.
    history = await dev_env.client.get_workflow_handle(
        effects_workflow_id(req.request_id)
    ).fetch_history()
    await Replayer(
        workflows=[EffectsDeliveryWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    ).replay_workflow(history)
    assert (sold.event.event_id, sold.event.type) == (f"{req.request_id}:0", "stock.sold")
    assert (sold.event.payload, sold.event.version) == ({"sku": "A-1"}, 1)
    assert (invoice.event.event_id, invoice.event.payload) == (
        f"{req.request_id}:1",
        {"sku": "A-1", "amount": 30},
    )
    handler = "tests.helpers.effects_app.on_sold"
    assert [(a.handler, a.attempt, a.delivered) for a in sold.attempts] == [(handler, 1, True)]
    flaky = "tests.helpers.effects_app.flaky_invoice"
    # At least once: two failures, then the third attempt delivers; each one recorded.
    assert [(a.handler, a.attempt, a.delivered) for a in again[1].attempts] == [
        (flaky, 1, False),
        (flaky, 2, False),
        (flaky, 3, True),
    ]
    assert again[1].attempts[0].error == "ConnectionError: the billing service is down"
    assert calls[("on_sold", sold.event.event_id)] == 1
    assert calls[("flaky_invoice", invoice.event.event_id)] == FLAKY_FAILURES + 1
    assert EFFECT_MAX_ATTEMPTS > FLAKY_FAILURES + 1
    # No webhook on this worker: nothing was sent.
    assert sold.webhook == []


async def test_a_change_made_through_the_lane_after_approvals_emits_its_events(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, app) as client:
        req = await client.submit(state_id(), "shop.reviewed_sell", {"sku": "B-2"}, actor="dave")
        assert req.status == RequestStatus.PENDING
        assert await client.effects(request_id=req.request_id) == []
        await client.approve(req.request_id, actor="alice")
        await client.approve(req.request_id, actor="bob")
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        [sold] = await _effects(client, req.request_id, 1, count=1)
    assert sold.event.event_id == f"{req.request_id}:0"
    assert [a.attempt for a in sold.attempts] == [1]


@pytest.mark.parametrize(
    ("mutation", "error"),
    [
        ("shop.explode", "shop.explode raised RuntimeError: the till is jammed"),
        ("shop.bad_event", "effect 'stock.sold': the payload is not JSON"),
    ],
)
async def test_a_handler_that_raises_or_emits_non_json_commits_nothing_and_emits_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store, mutation: str, error: str
) -> None:
    state = state_id()
    async with running_mutator(dev_env, sqlite_store, app) as client:
        req = await client.submit(state, mutation, {}, actor="dave", wait=True, wait_timeout=30)
        assert req.status == RequestStatus.FAILED
        assert error in (req.error or "")
        assert await client.effects(request_id=req.request_id) == []
        assert sqlite_store.get_state(state) is None  # the change did not commit
    await _no_delivery(dev_env, req.request_id)


async def test_a_change_the_version_check_refuses_emits_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = state_id()
    async with running_mutator(dev_env, sqlite_store, app) as client:
        first = await client.submit(state, "shop.sell", {"sku": "C-3"}, actor="dave")
        assert first.status == RequestStatus.EXECUTED
        stale = await client.submit(
            state, "shop.sell", {"sku": "C-3"}, actor="dave", expected_version=0, wait=True
        )
        assert stale.status == RequestStatus.REJECTED
        assert await client.effects(request_id=stale.request_id) == []
        await _effects(client, first.request_id, 1, count=1)
    await _no_delivery(dev_env, stale.request_id)


async def test_a_mutation_that_emits_nothing_starts_no_delivery(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, app) as client:
        req = await client.submit(state_id(), "shop.plain", {}, actor="dave")
        assert req.status == RequestStatus.EXECUTED
        assert await client.effects(request_id=req.request_id) == []
    await _no_delivery(dev_env, req.request_id)


@pytest.mark.parametrize("mode", [BatchMode.ATOMIC, BatchMode.SEQUENTIAL])
async def test_batch_items_events_are_delivered_with_their_item_keys(
    dev_env: WorkflowEnvironment, sqlite_store: Store, mode: BatchMode
) -> None:
    items: list[dict[str, Any]] = [
        {"state_id": state_id(), "mutation": "shop.sell", "payload": {"sku": "D-4"}},
        {"state_id": state_id(), "mutation": "shop.plain", "payload": {}},
        {"state_id": state_id(), "mutation": "shop.sell", "payload": {"sku": "D-5"}},
    ]
    async with running_mutator(dev_env, sqlite_store, app) as client:
        req = await client.submit_batch(items, mode=mode, actor="dave", wait=True, wait_timeout=30)
        assert req.status == RequestStatus.EXECUTED
        found = await _effects(client, req.request_id, 2, count=2)
    assert [r.event.event_id for r in found] == [
        f"{req.request_id}#0:0",
        f"{req.request_id}#2:0",
    ]
    assert [r.event.state_id for r in found] == [items[0]["state_id"], items[2]["state_id"]]
    assert [[a.attempt for a in r.attempts] for r in found] == [[1], [1]]
    # Atomic: one execution, one delivery; sequential: one per item that emitted.
    first = await _delivery_result(dev_env, f"{req.request_id}#0")
    if mode == BatchMode.ATOMIC:
        assert first.delivered == 2
    else:
        assert first.delivered == 1
        assert (await _delivery_result(dev_env, f"{req.request_id}#2")).delivered == 1


async def test_the_webhook_receives_each_event_signed_with_its_event_id(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    secret = new_secret()
    with running_receiver(secret) as receiver:
        webhook = webhook_config(
            receiver.url, secret, initial_retry_seconds=0.05, max_retry_seconds=0.2
        )
        async with running_mutator(dev_env, sqlite_store, app, webhook=webhook) as client:
            state = state_id()
            req = await client.submit(state, "shop.sell", {"sku": "E-6"}, actor="dave")
            [sold] = await _effects(client, req.request_id, 2, count=1)

            async def sent() -> list[dict[str, Any]]:
                found = receiver.verified("effect.stock.sold")
                assert len(found) == 1
                return found

            [body] = await assert_eventually(sent)
    event_id = f"{req.request_id}:0"
    assert body["data"] == {
        "event_id": event_id,
        "type": "stock.sold",
        "payload": {"sku": "E-6"},
        "request_id": req.request_id,
        "state_id": state,
        "version": 1,
    }
    assert [
        r.headers["webhook-id"]
        for r in receiver.received
        if r.body and r.body["type"] == "effect.stock.sold"
    ] == [event_id]
    assert [(d.event_id, d.attempt, d.delivered) for d in sold.webhook] == [(event_id, 1, True)]
    assert [(a.attempt, a.delivered) for a in sold.attempts] == [(1, True)]
    assert effects_app.calls[("on_sold", event_id)] == 1


async def test_a_change_committed_before_its_worker_died_is_delivered_by_the_retry_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """The attempt that committed died before it started the delivery: the retried
    execution activity finds the change recorded and starts it; a further retry does not
    start a second one."""
    request = executed(f"req-{uuid.uuid4().hex[:12]}", state_id=state_id()).model_copy(
        update={"mutation": "shop.sell", "payload": {"sku": "F-7"}}
    )
    change = change_for(app.get("shop.sell"), request.payload)
    # The attempt that died: its change and its event are stored, nothing more.
    sqlite_store.apply(
        request=request, change=change, expected_version=None, events=change.emitted()
    )
    async with running_mutator(dev_env, sqlite_store, app) as client:
        activities = RequestActivities(
            app, sqlite_store, LaneActivities(sqlite_store, LaneSettings())
        )
        retry = ActivityEnvironment(client=dev_env.client)
        retry.info = dataclasses.replace(
            retry.info, task_queue=client.task_queue + EXECUTION_QUEUE_SUFFIX, attempt=2
        )
        for _ in range(2):
            result = await retry.run(
                activities.execute, ExecuteInput(request=request, expected_version=None)
            )
            assert result.request.resulting_version == 1
        [sold] = await _effects(client, request.request_id, 1, count=1)
        delivery = await _delivery_result(dev_env, request.request_id)
    assert delivery.delivered == 1
    assert [(a.attempt, a.delivered) for a in sold.attempts] == [(1, True)]
    assert calls[("on_sold", f"{request.request_id}:0")] == 1
