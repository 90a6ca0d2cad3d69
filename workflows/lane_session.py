"""The request side of a state lane.

Have the lane run our execution in turn; or (batches) acquire, hold (renewing the lease)
and release.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from mutator.lane_contracts import (
        ACQUIRE_LANE_ACTIVITY,
        WITHDRAW_SIGNAL,
        AcquireLaneInput,
        AcquireLaneResult,
        AttachExecution,
        LaneExecution,
        LaneGrant,
        LaneOutcome,
        LaneTokenSignal,
        LaneWithdraw,
        lane_workflow_id,
    )

T = TypeVar("T")

ACQUIRE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=5))


class LaneSession:
    """One request's place in one state's lane, inside the request's workflow."""

    def __init__(self, state_id: str, owner: str, request_id: str) -> None:
        """A session not yet queued.

        Args:
            state_id: The lane's state.
            owner: The request's workflow id, which the lane signals.
            request_id: The request.
        """
        self.state_id = state_id
        self.owner = owner
        self.request_id = request_id
        self.grant: LaneGrant | None = None
        self.outcome: LaneOutcome | None = None
        # What we asked the lane to run, until its outcome arrives.
        self.pending: LaneExecution | None = None
        # The lane knows of ``pending`` (joined or attached), so a withdraw can reach it.
        self.joined = False
        self.withdraw_sent = False
        # The lane answered a withdraw with ``too_late``: its turn came, the outcome follows.
        self.too_late = False

    def on_grant(self, grant: LaneGrant) -> None:
        """Take the lane's grant (the workflow's grant signal), if it is for this state."""
        if grant.state_id == self.state_id:
            self.grant = grant

    async def on_outcome(self, outcome: LaneOutcome) -> None:
        """Take the lane's outcome signal, if it is for this state.

        Token 0 is the lane asking whether we are still there: the execution is sent again when
        we still wait for it.
        """
        if outcome.state_id != self.state_id:
            return
        if outcome.withdrawal == "too_late":
            self.too_late = True
            return
        if outcome.withdrawal == "withdrawn":
            self.outcome = outcome
            self.pending = None
            return
        if outcome.token:
            self.outcome = outcome
            self.pending = None
        elif self.pending is not None and workflow.patched("resend-execution-on-ping"):
            # Token 0: the lane asks whether we are still there and, when it carried our
            # entry over continue-as-new without the execution, for the execution again.
            await self._attach(self.pending)

    async def execute(
        self,
        execution: LaneExecution,
        *,
        already_queued: bool,
        withdraw_if: Callable[[], bool] | None = None,
    ) -> LaneOutcome:
        """Have the lane run ``execution`` when our turn comes; wait for its outcome.

        ``already_queued``: the evaluation activity joined the lane for us, so the lane
        only needs to be told what to run. ``withdraw_if``: asked once the lane knows of
        us; True withdraws at once (a supersede asked while we were joining). The outcome
        is then ``withdrawn``, or the execution's when its turn had come already.
        """
        self.outcome = None
        self.pending = execution
        self.joined = self.withdraw_sent = self.too_late = False
        if already_queued:
            await self._attach(execution)
        else:
            await self._join(execution)
        self.joined = True
        if withdraw_if is not None and withdraw_if():
            await self.withdraw()
        await workflow.wait_condition(lambda: self.outcome is not None)
        self.joined = False
        assert self.outcome is not None
        return self.outcome

    async def withdraw(self) -> None:
        """Ask the lane to drop our queued execution (once; only while it knows of it).

        The lane answers with a ``withdrawn`` outcome, or ``too_late`` (``self.too_late``)
        followed by the execution's own outcome.
        """
        if not self.joined or self.pending is None or self.withdraw_sent:
            return
        self.withdraw_sent = True
        await self._send_withdraw()

    async def leave(self) -> None:
        """Leave the queue the evaluation joined for us, no execution attached yet.

        Nothing of ours can run there (the lane waits for the execution), so the lane's
        answer is ``withdrawn``; waited for, so the lane is never left waiting on us.
        """
        self.outcome = None
        self.pending = None
        self.too_late = False
        await self._send_withdraw()
        await workflow.wait_condition(lambda: self.outcome is not None or self.too_late)
        self.outcome = None

    async def _send_withdraw(self) -> None:
        await workflow.get_external_workflow_handle(lane_workflow_id(self.state_id)).signal(
            WITHDRAW_SIGNAL, LaneWithdraw(owner=self.owner)
        )

    async def _attach(self, execution: LaneExecution) -> None:
        await workflow.get_external_workflow_handle(lane_workflow_id(self.state_id)).signal(
            "attach_execution", AttachExecution(owner=self.owner, execution=execution)
        )

    async def acquire(self, *, already_queued: bool = False) -> LaneGrant:
        """Queue on the state's lane and wait (without limit) for our turn.

        ``already_queued``: the evaluation activity joined the lane for us; the grant may
        even have arrived already.
        """
        if already_queued:
            await workflow.wait_condition(lambda: self.grant is not None)
            assert self.grant is not None
            return self.grant
        self.grant = None
        await self._join(None)
        await workflow.wait_condition(lambda: self.grant is not None)
        assert self.grant is not None
        return self.grant

    async def _join(self, execution: LaneExecution | None) -> None:
        """Queue on the lane (signal-with-start from an activity).

        To be granted the lease, or, with ``execution``, for the lane to run it.
        """
        await workflow.execute_activity(
            ACQUIRE_LANE_ACTIVITY,
            AcquireLaneInput(
                state_id=self.state_id,
                owner=self.owner,
                request_id=self.request_id,
                executes=execution is not None,
                execution=execution,
                task_queue=workflow.info().task_queue,
            ),
            result_type=AcquireLaneResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ACQUIRE_RETRY,
        )

    @staticmethod
    async def hold_all_while(lanes: list[LaneSession], task: asyncio.Task[T]) -> T:
        """Await ``task`` while renewing every lane in ``lanes``."""
        held = [lane for lane in lanes if lane.grant is not None]
        if not held:
            return await task
        interval = max(min(lane.grant.lease_seconds for lane in held if lane.grant) / 3, 0.5)
        while not task.done():
            try:
                await workflow.wait_condition(task.done, timeout=interval)
            except TimeoutError:
                for lane in held:
                    await lane._signal_lane("renew")
        return await task

    async def release(self) -> None:
        """Give the lease back, if held."""
        if self.grant is None:
            return
        await self._signal_lane("release")
        self.grant = None

    async def _signal_lane(self, name: str) -> None:
        assert self.grant is not None
        await workflow.get_external_workflow_handle(lane_workflow_id(self.state_id)).signal(
            name, LaneTokenSignal(owner=self.owner, token=self.grant.token)
        )
