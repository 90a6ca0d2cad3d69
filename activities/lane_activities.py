"""Side effects of the state lane: joining it (signal-with-start) and advancing the fence."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from mutator.contracts import EXECUTION_QUEUE_SUFFIX
from mutator.lane_contracts import (
    ACQUIRE_LANE_ACTIVITY,
    DEFAULT_EXECUTION_TIMEOUT_SECONDS,
    DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
    DEFAULT_IDLE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_HISTORY_EVENTS,
    FENCE_ACTIVITY,
    FORGET_OWNERS_ACTIVITY,
    LANE_WORKFLOW,
    AcquireLaneInput,
    AcquireLaneRequest,
    AcquireLaneResult,
    AdvanceFenceInput,
    AdvanceFenceResult,
    ForgetOwnersInput,
    ForgetOwnersResult,
    LaneInput,
    lane_workflow_id,
)
from mutator.store import Store

# How often a lane joiner checks whether a direct execution on its state has finished.
DIRECT_CLAIM_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class LaneSettings:
    """A worker's lane settings: leases, the handler's limit, idling and heartbeats.

    Attributes:
        lease_seconds: How long a lane's grant lasts without renewal.
        execution_timeout_seconds: The handler's own limit per attempt (enforced by the
            execution activity).
        idle_seconds: How long an empty lane waits before it closes.
        max_history_events: A lane continues as new past this many events.
        heartbeat_timeout_seconds: A worker that stops heartbeating an execution for this long
            is presumed dead.
    """

    lease_seconds: float = DEFAULT_LEASE_SECONDS
    # The handler's own limit per attempt (enforced by the execution activity).
    execution_timeout_seconds: float = DEFAULT_EXECUTION_TIMEOUT_SECONDS
    idle_seconds: float = DEFAULT_IDLE_SECONDS
    max_history_events: int = DEFAULT_MAX_HISTORY_EVENTS
    # A worker that stops heartbeating an execution for this long is presumed dead.
    heartbeat_timeout_seconds: float = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS

    @property
    def direct_claim_seconds(self) -> float:
        """How long a direct claim lasts.

        It outlives its execution's limit by a heartbeat timeout, so a retry after a crash finds it
        still held; a claim nobody retries is then free again.
        """
        return self.execution_timeout_seconds + self.heartbeat_timeout_seconds


class LaneActivities:
    """The activities that let requests join state lanes and that the lanes call on the store."""

    def __init__(self, store: Store, settings: LaneSettings | None = None) -> None:
        """Use ``store``, with ``settings`` (the defaults by default) for the lanes it starts."""
        self.store = store
        self.settings = settings or LaneSettings()

    @activity.defn(name=ACQUIRE_LANE_ACTIVITY)
    async def acquire_lane(self, input: AcquireLaneInput) -> AcquireLaneResult:
        """Queue the calling request on its state's lane (signal-with-start); see ``join``."""
        return await self.join(input)

    async def join(self, input: AcquireLaneInput) -> AcquireLaneResult:
        """Queue the calling request on its state's lane (signal-with-start)."""
        # The claim row keeps direct executions off the state from now on; one that is
        # running is waited out. Then the store's fence is final for us: the lane grants
        # above it, so tokens keep increasing per state across lane runs and direct ones.
        claim = await asyncio.to_thread(self.store.join_lane, input.state_id, input.owner)
        while claim is not None:
            activity.heartbeat()
            await asyncio.sleep(DIRECT_CLAIM_POLL_SECONDS)
            claim = await asyncio.to_thread(self.store.direct_claim, input.state_id)
        fence = await asyncio.to_thread(self.store.fence, input.state_id)
        task_queue = input.task_queue or activity.info().task_queue
        handle = await activity.client().start_workflow(
            LANE_WORKFLOW,
            LaneInput(
                state_id=input.state_id,
                next_token=fence + 1,
                lease_seconds=self.settings.lease_seconds,
                execution_timeout_seconds=self.settings.execution_timeout_seconds,
                execution_task_queue=task_queue + EXECUTION_QUEUE_SUFFIX,
                idle_seconds=self.settings.idle_seconds,
                max_history_events=self.settings.max_history_events,
            ),
            id=lane_workflow_id(input.state_id),
            task_queue=task_queue,
            start_signal="acquire",
            start_signal_args=[
                AcquireLaneRequest(
                    owner=input.owner,
                    request_id=input.request_id,
                    reentrant=input.reentrant,
                    executes=input.executes,
                    execution=input.execution,
                    min_token=fence + 1,
                )
            ],
            static_summary=f"lane of state {input.state_id}",
        )
        return AcquireLaneResult(lane_run_id=handle.result_run_id or "")

    @activity.defn(name=FORGET_OWNERS_ACTIVITY)
    def forget_owners(self, input: ForgetOwnersInput) -> ForgetOwnersResult:
        """Drop the store's claim rows of the owners a lane has served."""
        return ForgetOwnersResult(
            forgotten=self.store.forget_lane_owners(input.state_id, input.owners)
        )

    @activity.defn(name=FENCE_ACTIVITY)
    def advance_fence(self, input: AdvanceFenceInput) -> AdvanceFenceResult:
        """Raise a state's fence so that the store refuses every token below ``input.token``."""
        return AdvanceFenceResult(fence=self.store.advance_fence(input.state_id, input.token))

    def all(self) -> list[Any]:
        """The activities to register on the main worker."""
        return [self.acquire_lane, self.advance_fence, self.forget_owners]
