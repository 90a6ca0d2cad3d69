"""The workflows replay deterministically from their own histories.

The worker imports the workflow modules once and passes them through the sandbox
(mutator.workers.WORKFLOW_RUNNER), so the sandbox no longer re-imports them per run; this
replays real histories of every path (direct, lane turns with and without approvals, a
version resolution that finds the state current or stale, a batch) with the same runner,
and would fail on any nondeterminism.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.contracts import request_workflow_id
from mutator.lane_contracts import lane_workflow_id
from mutator.models import BatchMode, RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.effects_delivery import EffectsDeliveryWorkflow
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from mutator.workflows.webhook_delivery import WebhookDeliveryWorkflow
from tests.helpers import apps
from tests.helpers.workers import assert_eventually, running_mutator


async def test_request_and_lane_histories_replay(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0.01)
    apps.execution_gate.set()
    tag = uuid.uuid4().hex[:6]
    hot, solo, governed = f"replay-hot-{tag}", f"replay-solo-{tag}", f"replay-gov-{tag}"
    moved = f"replay-moved-{tag}"
    async with running_mutator(dev_env, sqlite_store, apps.build_app(execution_probe)) as client:
        direct = await client.submit(solo, "counter.add", {"amount": 1}, actor="alice")
        burst = await asyncio.gather(
            *(
                client.submit(
                    hot,
                    "probe.add",
                    {"state": hot, "marker": f"m{i}"},
                    actor="alice",
                    request_id=f"{hot}-{i}",
                )
                for i in range(6)
            )
        )
        pending = await client.submit(governed, "reapproved.add", {"amount": 2}, actor="dave")
        assert pending.status == RequestStatus.PENDING
        await client.approve(pending.request_id, actor="alice")
        await client.approve(pending.request_id, actor="bob")
        # Stale when approved (its state moved meanwhile): approvals reset, approved again.
        stale = await client.submit(moved, "reapproved.add", {"amount": 2}, actor="dave")
        await client.submit(moved, "counter.add", {"amount": 1}, actor="alice")
        await client.approve(stale.request_id, actor="alice")
        await client.approve(stale.request_id, actor="bob")

        async def reset() -> None:
            again = await client.get(stale.request_id)
            assert (again.status, again.approvals) == (RequestStatus.PENDING, [])

        await assert_eventually(reset)
        await client.approve(stale.request_id, actor="alice")
        await client.approve(stale.request_id, actor="bob")
        batch = await client.submit_batch(
            [
                {"state_id": solo, "mutation": "counter.add", "payload": {"amount": 3}},
                {"state_id": hot, "mutation": "counter.add", "payload": {"amount": 4}},
            ],
            mode=BatchMode.ATOMIC,
            actor="alice",
        )
        requests = [direct, *burst, pending, stale, batch]
        done = [await client.wait(r.request_id, timeout=60) for r in requests]
        assert [r.status for r in done] == [RequestStatus.EXECUTED] * len(done)
        ids = [request_workflow_id(r.request_id) for r in requests]
        ids += [lane_workflow_id(s) for s in (hot, governed, solo, moved)]
        histories: list[WorkflowHistory] = []
        for workflow_id in ids:
            runs = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "{workflow_id}"')]
            for run in runs:
                handle = dev_env.client.get_workflow_handle(workflow_id, run_id=run.run_id)
                histories.append(await handle.fetch_history())
    # The lanes of the hot, the governed and the moved state ran; the solo state never
    # needed one until the batch.
    assert len(histories) >= len(requests) + 3
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    replayed: list[str] = []

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            replayed.append(history.workflow_id)
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    failures = {
        run_id: str(failure) for run_id, failure in results.replay_failures.items() if failure
    }
    assert failures == {}
    assert len(replayed) == len(histories)


# Recorded by the code before version resolution ran as its own activity (01a7007): one
# request approved on a current state, one approved on a moved state (reapprove, approved
# again). Recorded by the code before signals were verified by an activity (cd4ccf5):
# old-signals-unsigned, a request voted on by signals (refused ones too). The new code must
# replay them on their old path (workflow.patched). Recorded when the schedule gate came
# (workflow.patched("schedule-gate")): schedule-freeze-ended (held by a freeze at its
# direct execution, woken by `freeze end`'s signal), schedule-lane-freeze-ended (held in
# its lane turn after two approvals, woken likewise) and schedule-freeze-expired (its timer
# fired when the freeze ended by itself); later code must replay them too. Recorded when
# webhooks came (workflow.patched("webhooks")), with a webhook: webhooks-approved-executed
# (pending, approved, executed in its lane turn: two events), webhooks-dependency-executed
# (pending (dependency), then executed: the flag came from mutator.verify_submit),
# webhooks-never-evaluated (its policy raised: the worker was asked with the local activity
# mutator.webhooks_configured) and webhooks-delivery-retried (a WebhookDelivery whose
# receiver failed the first attempt).
# external checks came (workflow.patched("external-checks")): checks-both (an approval, then
# the ci check, executed), checks-failed (a check passed, its repeat, another failed) and
# checks-signals (reports as check_signal, a refused one among them).
# supersede came (workflow.patched("supersede"), test_supersede_replay.py): supersede-*,
# a pending request superseded and its newer one, and one withdrawn from its lane queue,
# its newer one and the lane.
# policy levels came (workflow.patched("policy-override")): policy-override-soft-and-approval
# (a soft deny and one SRE: approved, then overridden by update, executed),
# policy-override-signals (a refused override_signal, then a counted one) and
# policy-warned-direct (an advisory deny, executed directly: its warned decision is stored by
# the evaluation).
# Side effects came (a new workflow, EffectsDelivery): effects-delivery-retried-webhook (two
# events: one handler that delivered at once, one that failed twice, then delivered; both
# sent to a webhook whose receiver failed the first attempt).
SAVED_HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", SAVED_HISTORIES, ids=lambda path: path.stem)
async def test_histories_recorded_by_earlier_code_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(
        workflows=[
            MutationRequestWorkflow,
            StateLaneWorkflow,
            WebhookDeliveryWorkflow,
            EffectsDeliveryWorkflow,
        ],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)
