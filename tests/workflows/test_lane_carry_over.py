"""What a state lane carries over continue-as-new stays small, whatever its queue holds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from mutator.activities import LaneSettings
from mutator.lane_contracts import lane_workflow_id
from mutator.models import RequestStatus
from mutator.store import Store
from mutator.workflows.state_lane import SHOWN_WAITING
from tests.helpers import apps
from tests.helpers.replays import assert_replays
from tests.helpers.workers import assert_eventually, running_mutator

pytestmark = pytest.mark.fault

PAD = "p" * 200_000
# Owners and ids only: far below one payload, and below Temporal's 2 MB blob limit.
CARRY_OVER_LIMIT = 50_000


@pytest.mark.slow
async def test_lane_carries_owners_not_payloads_over_continue_as_new(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    execution_probe = apps.ExecutionProbe(hold_seconds=0.05)
    apps.execution_gate.set()
    state_id = f"big-can-{uuid.uuid4().hex[:6]}"
    async with running_mutator(
        dev_env,
        sqlite_store,
        apps.build_app(execution_probe),
        lane_settings=LaneSettings(max_history_events=100),
    ) as client:
        submitted = await asyncio.gather(
            *(
                client.submit(
                    state_id,
                    "probe.add",
                    {"state": state_id, "marker": f"m{i:02d}", "pad": PAD},
                    actor="alice",
                    request_id=f"{state_id}-m{i:02d}",
                )
                for i in range(15)
            )
        )
        done = [await client.wait(r.request_id, timeout=90) for r in submitted]
        lane_id = lane_workflow_id(state_id)
        carried: list[int] = []
        runs: list[WorkflowHandle[Any, Any]] = []
        async for run in dev_env.client.list_workflows(f'WorkflowId = "{lane_id}"'):
            handle = dev_env.client.get_workflow_handle(lane_id, run_id=run.run_id)
            runs.append(handle)
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                    attributes = event.workflow_execution_continued_as_new_event_attributes
                    carried.append(sum(len(p.data) for p in attributes.input.payloads))
        # The runs that asked their carried-over owners again replay deterministically.
        await assert_replays(runs)
    assert all(r.status == RequestStatus.EXECUTED for r in done)
    assert [h.version for h in await client.history(state_id)] == list(range(1, 16))
    assert carried, "the lane never continued as new"
    assert max(carried) < CARRY_OVER_LIMIT


@pytest.mark.slow
async def test_lane_details_sum_up_a_long_queue(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """The Temporal UI's Current Details of a lane list the first waiting requests only."""
    state_id = f"long-{uuid.uuid4().hex[:6]}"
    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"held"})
    apps.execution_gate.clear()
    try:
        async with running_mutator(
            dev_env, sqlite_store, apps.build_app(execution_probe)
        ) as client:

            def probe(marker: str, expected_version: int | None = None) -> Any:
                return client.submit(
                    state_id,
                    "probe.add",
                    {"state": state_id, "marker": marker},
                    actor="alice",
                    request_id=f"{state_id}-{marker}",
                    expected_version=expected_version,
                )

            # Through the lane (an expected version), held at the gate: the rest queue.
            held = asyncio.create_task(probe("held", expected_version=0))

            async def executing() -> None:
                assert ("held", 0) in execution_probe.calls

            await assert_eventually(executing)
            queued = [asyncio.create_task(probe(f"q{i:02d}")) for i in range(SHOWN_WAITING + 5)]
            lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))

            async def summed_up() -> None:
                metadata = await lane.query(
                    "__temporal_workflow_metadata", result_type=WorkflowMetadata
                )
                details = metadata.current_details
                assert "and 5 more" in details, details
                assert details.count(f"{state_id}-q") == SHOWN_WAITING

            await assert_eventually(summed_up, timeout=30)
            apps.execution_gate.set()
            requests = [await task for task in [held, *queued]]
            done = [await client.wait(r.request_id, timeout=60) for r in requests]
    finally:
        apps.execution_gate.set()
    assert all(r.status == RequestStatus.EXECUTED for r in done)
