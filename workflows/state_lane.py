"""The per-state lane: one workflow id per state, a FIFO lock with a lease and fencing tokens.

Requests signal ``acquire`` (through signal-with-start, so a closed lane starts again).
A single request's entry ``executes``: when its turn comes the lane runs its execution
activity itself (heartbeats renew the lease; an attempt whose worker died is retried under a
new fencing token, the entry keeping its turn) and signals the outcome back. Other owners
(batches) are granted the lease by a signal, renew it while they execute and release it.
An expired lease advances the store's fence before passing on, so the expired holder can
never apply.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from mutator.workflows import lane_queue
from mutator.workflows.lane_execution import run_execution
from mutator.workflows.lane_queue import SHOWN_WAITING as SHOWN_WAITING
from mutator.workflows.messages import internal_message

with workflow.unsafe.imports_passed_through():
    from mutator.lane_contracts import (
        FENCE_ACTIVITY,
        FORGET_OWNERS_ACTIVITY,
        LANE_WORKFLOW,
        LEASE_EXPIRED,
        AcquireLaneRequest,
        AdvanceFenceInput,
        AdvanceFenceResult,
        AttachExecution,
        ForgetOwnersInput,
        ForgetOwnersResult,
        LaneEntry,
        LaneGrant,
        LaneHolder,
        LaneInput,
        LaneOutcome,
        LaneResult,
        LaneStatus,
        LaneTokenSignal,
        LaneWithdraw,
    )

GRANT_SIGNAL = "lane_granted"
OUTCOME_SIGNAL = "lane_executed"


@workflow.defn(name=LANE_WORKFLOW)
class StateLaneWorkflow:
    """A state's lane: a FIFO lock with a lease and fencing tokens.

    Requests queue with the ``acquire`` signal; the lane either runs the head's execution on
    the execution task queue or grants the head the lease, which it renews and releases by
    signal. Each grant carries a fencing token above every earlier one, and the store refuses
    a token below the state's fence. The lane closes when idle and continues as new when its
    history grows.
    """

    @workflow.init
    def __init__(self, input: LaneInput) -> None:
        """Take over the settings, holder and queue ``input`` carries."""
        self.state_id = input.state_id
        self.next_token = input.next_token
        self.lease = timedelta(seconds=input.lease_seconds)
        self.execution_timeout = timedelta(seconds=input.execution_timeout_seconds)
        self.execution_task_queue = input.execution_task_queue
        self.idle = input.idle_seconds
        self.max_history_events = input.max_history_events
        self.holder: LaneHolder | None = input.holder
        self.queue: list[LaneEntry] = list(input.queue)
        # Entries carried over continue-as-new without their execution: asked for it first.
        self.owed_executions = [e.owner for e in self.queue if e.executes and not e.execution]
        self.grants = input.grants
        self.expirations = input.expirations
        self.regrant = False
        self.outcome_signals: list[asyncio.Task[None]] = []
        # Owners whose store claim rows this lane removes when it closes.
        self.seen_owners: list[str] = list(input.seen_owners)

    @workflow.query
    def status(self) -> LaneStatus:
        """The holder, queue (without executions) and counters, for `mutator locks`."""
        return LaneStatus(
            state_id=self.state_id,
            run_id=workflow.info().run_id,
            holder=self.holder,
            queue=lane_queue.without_executions(self.queue),
            next_token=self.next_token,
            grants=self.grants,
            expirations=self.expirations,
            lease_seconds=self.lease.total_seconds(),
        )

    # Every handler takes ``*args`` (see workflows/messages.py); only Mutator's own code
    # sends these, so a malformed one is ignored with a log line.

    @workflow.signal
    def acquire(self, *args: Any) -> None:
        """An owner joins the queue; a retried acquire changes nothing, the holder's re-enters."""
        request = internal_message(AcquireLaneRequest, args, "acquire")
        if request is None:
            return
        # Direct executions may have taken tokens since this run started.
        self.next_token = max(self.next_token, request.min_token)
        if request.owner not in self.seen_owners:
            self.seen_owners.append(request.owner)
        if self.holder is not None and self.holder.owner == request.owner:
            if request.reentrant:
                self.holder.depth += 1
            self.regrant = True  # a retried acquire gets its grant again
            return
        for entry in self.queue:
            if entry.owner == request.owner:  # a retried acquire activity: already queued
                entry.execution = entry.execution or request.execution
                return
        self.queue.append(
            LaneEntry(
                owner=request.owner,
                request_id=request.request_id,
                enqueued_at=workflow.now(),
                executes=request.executes,
                execution=request.execution,
            )
        )
        self._show()  # also while an execution runs: the main loop is blocked in it

    @workflow.signal
    def attach_execution(self, *args: Any) -> None:
        """A queued owner says what the lane should execute for it."""
        signal = internal_message(AttachExecution, args, "attach_execution")
        if signal is None:
            return
        for entry in self.queue:
            if entry.owner == signal.owner and entry.executes:
                entry.execution = signal.execution

    @workflow.signal
    def withdraw(self, *args: Any) -> None:
        """A queued owner leaves before its turn (superseded); answered by an outcome signal.

        Decided here, where turns are given: an entry still queued is removed and nothing of
        it runs (``withdrawn``); one whose turn came already runs on and reports as usual
        (``too_late``).
        """
        signal = internal_message(LaneWithdraw, args, "withdraw")
        if signal is not None:
            answer = lane_queue.withdraw(self.queue, signal.owner, self.state_id)
            self._show()
            self.outcome_signals.append(
                asyncio.create_task(self._send_outcome(signal.owner, answer))
            )

    @workflow.signal
    def release(self, *args: Any) -> None:
        """The holder gives the lease back (once per acquisition)."""
        signal = internal_message(LaneTokenSignal, args, "release")
        if signal is not None and self._is_holder(signal):
            assert self.holder is not None
            self.holder.depth -= 1
            if self.holder.depth <= 0:
                self.holder = None

    @workflow.signal
    def renew(self, *args: Any) -> None:
        """The holder extends its lease by one lease period."""
        signal = internal_message(LaneTokenSignal, args, "renew")
        if signal is not None and self._is_holder(signal):
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
        """Serve the queue until the lane has been idle for ``idle_seconds``.

        Returns:
            How many grants and lease expirations this run saw.
        """
        while True:
            if self.holder is None and self.queue:
                # The head may have withdrawn while it was waited for.
                if await self._head_is_ready() and self.queue:
                    await self._grant_next()
            elif self.holder is not None:
                await self._watch_holder()
            else:
                try:
                    await workflow.wait_condition(lambda: bool(self.queue), timeout=self.idle)
                except TimeoutError:
                    if not self.queue and self.holder is None:
                        await self._forget_seen_owners()
                    if not self.queue and self.holder is None:
                        break
            self._show()
            if self._should_continue_as_new():
                # Carry over only the owners still here: the list must not grow forever.
                await self._forget_seen_owners()
                await self._drain()
                workflow.continue_as_new(self._carry_over())
        await self._drain()
        return LaneResult(state_id=self.state_id, grants=self.grants, expirations=self.expirations)

    async def _head_is_ready(self) -> bool:
        """An executing entry waits at the head for its owner to say what to run."""
        head = self.queue[0]
        if head.owner in self.owed_executions and workflow.patched("ask-carried-owners"):
            self.owed_executions.remove(head.owner)
            if not self._head_ready() and not await self._ping(head):
                return False
        try:
            # Or the head withdrew (superseded): the next one is looked at afresh.
            await workflow.wait_condition(
                lambda: self._head_ready() or self.queue[0] is not head, timeout=self.lease
            )
        except TimeoutError:
            await self._ping(head)
            return False
        return self._head_ready()

    async def _ping(self, head: LaneEntry) -> bool:
        """Ask the head's owner whether it is still there, with token 0.

        The owner sends its execution again if it has one. False when the owner is gone and was
        dropped from the queue.
        """
        try:
            await workflow.get_external_workflow_handle(head.owner).signal(
                OUTCOME_SIGNAL, LaneOutcome(state_id=self.state_id, token=0)
            )
        except ApplicationError:
            workflow.logger.warning("request %s is gone; dropped from the queue", head.owner)
            if self.queue and self.queue[0] is head:
                self.queue.pop(0)
            return False
        return True

    def _head_ready(self) -> bool:
        return not self.queue or not self.queue[0].executes or self.queue[0].execution is not None

    async def _drain(self) -> None:
        # An outcome signal not yet sent when the run ends would be lost.
        await asyncio.gather(*self.outcome_signals)
        self.outcome_signals.clear()
        await workflow.wait_condition(workflow.all_handlers_finished)

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
            expires_at=now + (self.execution_timeout if entry.executes else self.lease),
        )
        if entry.execution is None:
            await self._send_grant(self.holder)
            return
        self._show()
        outcome = await run_execution(
            state_id=self.state_id,
            owner=entry.owner,
            token=token,
            granted_at=now,
            execution=entry.execution,
            task_queue=self.execution_task_queue,
            timeout=self.execution_timeout,
            new_token=self._renew_token,
        )
        if outcome.error_type == LEASE_EXPIRED:
            await self._raise_fence()
        self.holder = None
        # Not awaited here: the next execution starts in this same workflow task.
        self.outcome_signals = [t for t in self.outcome_signals if not t.done()]
        self.outcome_signals.append(asyncio.create_task(self._send_outcome(entry.owner, outcome)))

    async def _renew_token(self) -> int:
        """Give the holder's execution a new token after it lost its worker.

        The store refuses the old token from now on (the lost attempt may still be running).
        """
        assert self.holder is not None
        token = self.next_token
        self.next_token += 1
        await workflow.execute_activity(
            FENCE_ACTIVITY,
            AdvanceFenceInput(state_id=self.state_id, token=token),
            result_type=AdvanceFenceResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.holder.token = token
        self.holder.expires_at = workflow.now() + self.execution_timeout
        self._show()
        return token

    async def _send_outcome(self, owner: str, outcome: LaneOutcome) -> None:
        try:
            await workflow.get_external_workflow_handle(owner).signal(OUTCOME_SIGNAL, outcome)
        except ApplicationError:
            workflow.logger.warning("request %s is gone; its outcome was not delivered", owner)

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
        await self._raise_fence()
        workflow.logger.warning(
            "lease of %s (token %s) on %s expired", holder.owner, holder.token, self.state_id
        )
        if self.holder is holder:
            self.holder = None

    async def _forget_seen_owners(self) -> None:
        """Remove the store claims of the owners this lane has served; owners still here are kept.

        Direct executions may use the state again once none is left.
        """
        here = {entry.owner for entry in self.queue}
        if self.holder is not None:
            here.add(self.holder.owner)
        owners = [owner for owner in self.seen_owners if owner not in here]
        self.seen_owners = [owner for owner in self.seen_owners if owner in here]
        if owners:
            await workflow.execute_activity(
                FORGET_OWNERS_ACTIVITY,
                ForgetOwnersInput(state_id=self.state_id, owners=owners),
                result_type=ForgetOwnersResult,
                start_to_close_timeout=timedelta(seconds=30),
            )

    async def _raise_fence(self) -> None:
        # Fence first: once the store refuses every token below next_token, the expired
        # holder's execution cannot apply even if it is still running.
        await workflow.execute_activity(
            FENCE_ACTIVITY,
            AdvanceFenceInput(state_id=self.state_id, token=self.next_token),
            result_type=AdvanceFenceResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.expirations += 1

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
            execution_timeout_seconds=self.execution_timeout.total_seconds(),
            execution_task_queue=self.execution_task_queue,
            idle_seconds=self.idle,
            max_history_events=self.max_history_events,
            holder=self.holder,
            # Owners in order, not their executions (each up to a full payload): the input
            # of the next run stays small however long the queue; owners re-send on a ping.
            queue=lane_queue.without_executions(self.queue),
            grants=self.grants,
            expirations=self.expirations,
            seen_owners=self.seen_owners,
        )

    def _show(self) -> None:
        workflow.set_current_details(
            lane_queue.details(
                self.state_id, self.holder, self.queue, self.grants, self.expirations
            )
        )
