"""Side effects of the state lane: joining it (signal-with-start) and advancing the fence."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity

from mutator.lane_contracts import (
    ACQUIRE_LANE_ACTIVITY,
    FENCE_ACTIVITY,
    LANE_WORKFLOW,
    AcquireLaneInput,
    AcquireLaneRequest,
    AcquireLaneResult,
    AdvanceFenceInput,
    AdvanceFenceResult,
    LaneInput,
    lane_workflow_id,
)
from mutator.store import Store


class LaneActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name=ACQUIRE_LANE_ACTIVITY)
    async def acquire_lane(self, input: AcquireLaneInput) -> AcquireLaneResult:
        # A lane that closed while idle starts again above the store's fence, so fencing
        # tokens keep increasing per state across lane runs.
        fence = await asyncio.to_thread(self.store.fence, input.state_id)
        handle = await activity.client().start_workflow(
            LANE_WORKFLOW,
            LaneInput(
                state_id=input.state_id,
                next_token=fence + 1,
                lease_seconds=input.lease_seconds,
                idle_seconds=input.idle_seconds,
            ),
            id=lane_workflow_id(input.state_id),
            task_queue=activity.info().task_queue,
            start_signal="acquire",
            start_signal_args=[AcquireLaneRequest(owner=input.owner, request_id=input.request_id)],
            static_summary=f"lane of state {input.state_id}",
        )
        return AcquireLaneResult(lane_run_id=handle.result_run_id or "")

    @activity.defn(name=FENCE_ACTIVITY)
    def advance_fence(self, input: AdvanceFenceInput) -> AdvanceFenceResult:
        return AdvanceFenceResult(fence=self.store.advance_fence(input.state_id, input.token))

    def all(self) -> list[Any]:
        return [self.acquire_lane, self.advance_fence]
