"""A test-only lane owner that acquires its state's lane twice (nested) and releases twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mutator.lane_contracts import (
        ACQUIRE_LANE_ACTIVITY,
        AcquireLaneInput,
        AcquireLaneResult,
        LaneGrant,
        LaneTokenSignal,
        lane_workflow_id,
    )


@workflow.defn
class NestedLaneOwner:
    def __init__(self) -> None:
        self.grants: list[LaneGrant] = []
        self.proceed_count = 0
        self.released = 0

    @workflow.signal
    def lane_granted(self, grant: LaneGrant) -> None:
        self.grants.append(grant)

    @workflow.signal
    def proceed(self) -> None:
        self.proceed_count += 1

    @workflow.query
    def progress(self) -> tuple[int, int]:
        return len(self.grants), self.released

    def _granted(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.grants) >= count

    def _told(self, count: int) -> Callable[[], bool]:
        return lambda: self.proceed_count >= count

    @workflow.run
    async def run(self, state_id: str) -> list[int]:
        owner = workflow.info().workflow_id
        for reentrant in (False, True):
            await workflow.execute_activity(
                ACQUIRE_LANE_ACTIVITY,
                AcquireLaneInput(
                    state_id=state_id, owner=owner, request_id=owner, reentrant=reentrant
                ),
                result_type=AcquireLaneResult,
                start_to_close_timeout=timedelta(seconds=30),
            )
            await workflow.wait_condition(self._granted(2 if reentrant else 1))
        lane = workflow.get_external_workflow_handle(lane_workflow_id(state_id))
        for step in (1, 2):
            await workflow.wait_condition(self._told(step))
            await lane.signal("release", LaneTokenSignal(owner=owner, token=self.grants[0].token))
            self.released += 1
        return [grant.token for grant in self.grants]
