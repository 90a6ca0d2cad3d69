"""The per-state lane: one workflow id per state, a FIFO lock with a lease and fencing tokens.

Requests signal ``acquire`` (through signal-with-start, so a closed lane starts again), the
lane grants the lease to the head of the queue by signalling the request back, the holder
renews while its execution runs and releases when done. An expired lease advances the
store's fence before passing on, so the expired holder can never apply.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from mutator.lane_contracts import (
        FENCE_ACTIVITY,
        LANE_WORKFLOW,
        AcquireLaneRequest,
        AdvanceFenceInput,
        AdvanceFenceResult,
        LaneEntry,
        LaneGrant,
        LaneHolder,
        LaneInput,
        LaneResult,
        LaneStatus,
        LaneTokenSignal,
    )

GRANT_SIGNAL = "lane_granted"


@workflow.defn(name=LANE_WORKFLOW)
class StateLaneWorkflow:
    @workflow.init
    def __init__(self, input: LaneInput) -> None:
        self.state_id = input.state_id
        self.next_token = input.next_token
        self.lease = timedelta(seconds=input.lease_seconds)
        self.idle = input.idle_seconds
        self.max_history_events = input.max_history_events
        self.holder: LaneHolder | None = input.holder
        self.queue: list[LaneEntry] = list(input.queue)
        self.grants = input.grants
        self.expirations = input.expirations
        self.regrant = False

    @workflow.query
    def status(self) -> LaneStatus:
        return LaneStatus(
            state_id=self.state_id,
            run_id=workflow.info().run_id,
            holder=self.holder,
            queue=self.queue,
            next_token=self.next_token,
            grants=self.grants,
            expirations=self.expirations,
            lease_seconds=self.lease.total_seconds(),
        )

    @workflow.signal
    def acquire(self, request: AcquireLaneRequest) -> None:
        if self.holder is not None and self.holder.owner == request.owner:
            if request.reentrant:
                self.holder.depth += 1
            self.regrant = True  # a retried acquire gets its grant again
            return
        if any(entry.owner == request.owner for entry in self.queue):
            return  # a retried acquire activity: already queued
        self.queue.append(
            LaneEntry(
                owner=request.owner, request_id=request.request_id, enqueued_at=workflow.now()
            )
        )

    @workflow.signal
    def release(self, signal: LaneTokenSignal) -> None:
        if self._is_holder(signal):
            assert self.holder is not None
            self.holder.depth -= 1
            if self.holder.depth <= 0:
                self.holder = None

    @workflow.signal
    def renew(self, signal: LaneTokenSignal) -> None:
        if self._is_holder(signal):
            assert self.holder is not None
            self.holder.expires_at = workflow.now() + self.lease

    def _is_holder(self, signal: LaneTokenSignal) -> bool:
        return (
            self.holder is not None
            and self.holder.owner == signal.owner
            and self.holder.token == signal.token
        )

    @workflow.run
    async def run(self, input: LaneInput) -> LaneResult:
        while True:
            if self.holder is None and self.queue:
                await self._grant_next()
            elif self.holder is not None:
                await self._watch_holder()
            else:
                try:
                    await workflow.wait_condition(lambda: bool(self.queue), timeout=self.idle)
                except TimeoutError:
                    if not self.queue and self.holder is None:
                        break
            self._show()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return LaneResult(state_id=self.state_id, grants=self.grants, expirations=self.expirations)

    async def _grant_next(self) -> None:
        entry = self.queue.pop(0)
        now = workflow.now()
        token = self.next_token
        self.next_token += 1
        self.grants += 1
        self.holder = LaneHolder(
            owner=entry.owner,
            request_id=entry.request_id,
            token=token,
            acquired_at=now,
            expires_at=now + self.lease,
        )
        await self._send_grant(self.holder)

    async def _send_grant(self, holder: LaneHolder) -> None:
        grant = LaneGrant(
            state_id=self.state_id,
            token=holder.token,
            expires_at=holder.expires_at,
            lease_seconds=self.lease.total_seconds(),
        )
        try:
            await workflow.get_external_workflow_handle(holder.owner).signal(GRANT_SIGNAL, grant)
        except ApplicationError:
            # The owner is gone (finished, terminated): it will never release.
            if self.holder is not None and self.holder.token == holder.token:
                self.holder = None

    async def _watch_holder(self) -> None:
        holder = self.holder
        assert holder is not None
        if self.regrant:
            self.regrant = False
            await self._send_grant(holder)
            return
        remaining = (holder.expires_at - workflow.now()).total_seconds()
        expires_at = holder.expires_at
        try:
            await workflow.wait_condition(
                lambda: (
                    self.holder is not holder or self.regrant or holder.expires_at != expires_at
                ),
                timeout=max(remaining, 0.001),
            )
        except TimeoutError:
            if self.holder is holder and holder.expires_at <= workflow.now():
                await self._expire(holder)

    async def _expire(self, holder: LaneHolder) -> None:
        # Fence first: once the store refuses every token below next_token, the expired
        # holder's execution cannot apply even if it is still running.
        await workflow.execute_activity(
            FENCE_ACTIVITY,
            AdvanceFenceInput(state_id=self.state_id, token=self.next_token),
            result_type=AdvanceFenceResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.expirations += 1
        workflow.logger.warning(
            "lease of %s (token %s) on %s expired", holder.owner, holder.token, self.state_id
        )
        if self.holder is holder:
            self.holder = None

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.max_history_events
        )

    def _carry_over(self) -> LaneInput:
        return LaneInput(
            state_id=self.state_id,
            next_token=self.next_token,
            lease_seconds=self.lease.total_seconds(),
            idle_seconds=self.idle,
            max_history_events=self.max_history_events,
            holder=self.holder,
            queue=self.queue,
            grants=self.grants,
            expirations=self.expirations,
        )

    def _show(self) -> None:
        holder = (
            f"held by {self.holder.request_id} (token {self.holder.token}, lease until "
            f"{self.holder.expires_at.isoformat(timespec='seconds')})"
            if self.holder
            else "free"
        )
        waiting = ", ".join(e.request_id for e in self.queue) or "none"
        workflow.set_current_details(
            f"**{self.state_id}**: {holder}\n\nwaiting: {waiting}\n\n"
            f"grants {self.grants}, expired leases {self.expirations}"
        )
