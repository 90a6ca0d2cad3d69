"""Batches held by change windows, freezes and ``not_before``, on real servers.

A batch checks its items' schedule before it executes (atomic: under every lane); closed,
it waits ``pending`` (schedule) like a single request, and nothing of it runs meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.contracts import request_workflow_id
from mutator.gates import GateKind
from mutator.models import ItemOutcome, RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers.workers import running_mutator
from tests.workflows.test_schedule import _freeze, _settles, _waits_for_schedule, server_now


def _items(*states: str, mutation: str = "counter.add") -> list[dict[str, Any]]:
    return [{"state_id": s, "mutation": mutation, "payload": {"amount": 1}} for s in states]


async def test_an_atomic_batch_waits_for_a_freeze_on_one_item(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    until = _freeze(sqlite_store, await server_now(time_env), "db", 2, states="bdb-*")
    async with running_mutator(time_env, sqlite_store) as client:
        held = await client.submit_batch(
            _items("bweb-1", "bdb-1"), mode="atomic", actor="alice", request_id="bs-atomic"
        )
        _waits_for_schedule(held, until)
        gate = next(g for g in held.gates if g.kind == GateKind.SCHEDULE)
        assert gate.name == "freeze db"
        # Nothing of it ran: not even the item the freeze does not cover.
        assert await client.history("bweb-1") == []
        assert all(item.outcome == ItemOutcome.PENDING for item in held.items)
        await time_env.sleep(3 * 3600)
        done = await _settles(client, held.request_id, RequestStatus.EXECUTED)
        assert [i.outcome for i in done.items] == [ItemOutcome.APPLIED, ItemOutcome.APPLIED]
        assert "schedule_open" in [d.code for d in done.decisions]


async def test_a_batch_not_before_and_a_window_of_one_item(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    from tests.workflows.test_schedule import windowed_app

    now = await server_now(time_env)
    app, opens = windowed_app(now)
    async with running_mutator(time_env, sqlite_store, app) as client:
        start = (now + timedelta(hours=1)).replace(microsecond=0)
        later = await client.submit_batch(
            [{"state_id": "bnb-1", "mutation": "windowed.add", "payload": {"amount": 1}}],
            mode="independent",
            actor="alice",
            not_before=start,
        )
        # Held by its window (days away), which opens after its not_before.
        assert later.not_before == start
        _waits_for_schedule(later, opens)
        await time_env.sleep(4 * 86400)
        done = await _settles(client, later.request_id, RequestStatus.EXECUTED)
        assert (await client.state("bnb-1")).data == {"value": 1}
        assert done.items[0].outcome == ItemOutcome.APPLIED


async def test_freeze_end_wakes_a_held_batch(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    until = _freeze(sqlite_store, await server_now(dev_env), "cut", 24, states="bcut-*")
    async with running_mutator(dev_env, sqlite_store) as client:
        held = await client.submit_batch(
            _items("bfree-1", "bcut-1"), mode="sequential", actor="alice", request_id="bs-seq"
        )
        _waits_for_schedule(held, until)
        assert await client.history("bfree-1") == []
        ended = await client.end_freeze("cut", actor="carol")
        assert ended.woken == [held.request_id]
        done = await client.wait(held.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert (await client.state("bcut-1")).data == {"value": 1}
        history = await dev_env.client.get_workflow_handle(
            request_workflow_id(held.request_id)
        ).fetch_history()
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)
