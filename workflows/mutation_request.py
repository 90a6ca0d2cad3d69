"""One governed mutation request, from submission to its final status.

The workflow is the single writer of its request: handlers change the in-memory request,
every change is written to the SQL projection with the next revision, and the execute
activity writes the final ``executed`` revision in the same transaction as the state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from mutator.workflows.batch_execution import execute_batch
from mutator.workflows.messages import internal_message, update_message
from mutator.workflows.request_break_glass import RequestBreakGlass
from mutator.workflows.request_checks import RequestChecks
from mutator.workflows.request_compensation import RequestCompensation
from mutator.workflows.request_dependencies import RequestDependencies
from mutator.workflows.request_overrides import RequestOverrides
from mutator.workflows.request_plan import RequestPlan
from mutator.workflows.request_quota import RequestQuota
from mutator.workflows.request_schedule import RequestSchedule
from mutator.workflows.request_supersede import RequestSupersede
from mutator.workflows.request_votes import RequestVotes, raise_if, update_input
from mutator.workflows.version_check import resolve_version

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle, metrics
    from mutator.contracts import (
        ERR_POLICY_FAILED,
        ERR_UNKNOWN_MUTATION,
        EVALUATE_ACTIVITY,
        EXECUTION_QUEUE_SUFFIX,
        REQUEST_WORKFLOW,
        AdmissionInput,
        ApproveInput,
        CancelInput,
        EvaluateInput,
        EvaluateResult,
        RejectInput,
        RequestUpdateResult,
        RequestWorkflowResult,
        VersionOutcome,
    )
    from mutator.lane_contracts import (
        LaneExecution,
        LaneGrant,
        LaneOutcome,
    )
    from mutator.lifecycle.notifications import break_glass_event
    from mutator.models import (
        MutationRequest,
        OnStale,
        RequestStatus,
        SubmitRequestInput,
        submitted_request,
    )


EVALUATE_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[ERR_UNKNOWN_MUTATION, ERR_POLICY_FAILED],
)


# Requests whose mutation says on_stale="reapprove_if_changed" compare the change on the
# latest state with the approved one (histories before it have no such requests).
REAPPROVE_IF_CHANGED_PATCH = "reapprove-if-changed"

# How long the submit update waits for an allowed request to execute.
ADMISSION_SETTLE_SECONDS = 10.0


@workflow.defn(name=REQUEST_WORKFLOW)
class MutationRequestWorkflow(
    RequestOverrides,
    RequestVotes,
    RequestDependencies,
    RequestSchedule,
    RequestQuota,
    RequestBreakGlass,
    RequestChecks,
    RequestSupersede,
    RequestCompensation,
    RequestPlan,
):
    """One request's orchestration: its timers, messages, activities and saves.

    What each step does to the request is ``mutator.lifecycle``'s.
    """

    @workflow.init
    def __init__(self, input: SubmitRequestInput) -> None:
        """The request as submitted; nothing is evaluated yet."""
        self.request = submitted_request(input, workflow.now())
        # The submit's signature, checked by the first evaluation (identity="signed").
        self.submit_envelope = input.envelope
        self.submit_signature = input.signature
        # Checked already, before waiting for dependencies: not checked (nor its nonce) again.
        self.submit_checked = False
        self.admitted = False
        self.save_lock = asyncio.Lock()
        self.lanes = {}
        self.lane_queued = False
        self.on_stale: OnStale = "reject"
        # schedule_changed signals received, and what the last one said (request_schedule.py)
        self.schedule_changes = 0
        self.schedule_changes_seen = 0
        self.schedule_change_reason = ""
        # Whether the worker has a webhook, and what was last notified (request_notify.py)
        self.webhooks = None
        self.notified = None
        # Break-glass refused at the first evaluation: nothing is stored (request_break_glass.py)
        self.break_glass_refusal = ""
        # supersede (request_supersede.py): declared by the mutation; asked by a newer request
        self.supersede_declared = False
        self.supersede_asked: str | None = None
        # A compensation refused by its planning: nothing is stored (request_compensation.py)
        self.compensation_refusal = ""

    # -- queries, updates and signals ---------------------------------------------------
    # Every handler takes ``*args``: see workflows/messages.py for why.

    @workflow.signal
    def lane_granted(self, *args: Any) -> None:
        """The state's lane granted this request its turn."""
        grant = internal_message(LaneGrant, args, "lane_granted")
        if grant is not None:
            self.on_lane_grant(grant)

    @workflow.signal
    async def lane_executed(self, *args: Any) -> None:
        """The state's lane ran this request's execution; here is how it ended."""
        outcome = internal_message(LaneOutcome, args, "lane_executed")
        if outcome is not None:
            await self.on_lane_outcome(outcome)

    @workflow.query
    def status(self) -> MutationRequest:
        """The request as it stands."""
        return self.request

    @workflow.update
    async def admission(self, *args: Any) -> RequestUpdateResult:
        """Returns once policies have decided.

        A request allowed at once usually also executes within this wait, so `submit` shows
        the outcome without another call.
        """
        update_message(AdmissionInput, args)
        await workflow.wait_condition(lambda: self.admitted)
        self.raise_break_glass_refusal()
        self.raise_compensation_refusal()
        # On timeout it is queued behind others on its state: the caller gets `approved`.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self.request.status not in (RequestStatus.APPROVED, RequestStatus.EXECUTING)
                ),
                timeout=ADMISSION_SETTLE_SECONDS,
            )
        return RequestUpdateResult(request=self.request)

    @admission.validator
    def _validate_admission(self, *args: Any) -> None:
        update_message(AdmissionInput, args)

    @workflow.update
    async def approve(self, *args: Any) -> RequestUpdateResult:
        """Approve the request; refused (and nothing recorded) unless the vote counts."""
        input = update_input(ApproveInput, args)
        proof = self.update_proof(input)
        return await self._accept(
            self.approval_refusal(input, proof), lambda: self.record_approval(input, proof)
        )

    @approve.validator
    def _validate_approve(self, *args: Any) -> None:
        input = update_input(ApproveInput, args)
        raise_if(self.signature_check("approve", input) or self.approval_refusal(input))

    @workflow.update
    async def reject(self, *args: Any) -> RequestUpdateResult:
        """Reject the request as an eligible approver, with a reason."""
        input = update_input(RejectInput, args)
        proof = self.update_proof(input)
        return await self._accept(
            self.rejection_refusal(input, proof), lambda: self.record_rejection(input, proof)
        )

    @reject.validator
    def _validate_reject(self, *args: Any) -> None:
        input = update_input(RejectInput, args)
        raise_if(self.signature_check("reject", input) or self.rejection_refusal(input))

    @workflow.update
    async def cancel(self, *args: Any) -> RequestUpdateResult:
        """Cancel the pending request, as its requester or an eligible approver."""
        input = update_input(CancelInput, args)
        proof = self.update_proof(input)
        return await self._accept(
            self.cancel_refusal(input, proof), lambda: self.record_cancel(input, proof)
        )

    @cancel.validator
    def _validate_cancel(self, *args: Any) -> None:
        input = update_input(CancelInput, args)
        raise_if(self.signature_check("cancel", input) or self.cancel_refusal(input))

    async def _accept(self, refusal: str | None, record: Callable[[], None]) -> RequestUpdateResult:
        # Checked again: another vote may have landed between validation and this handler.
        raise_if(refusal)
        record()
        await self.save()
        return RequestUpdateResult(request=self.request)

    @workflow.signal
    async def approve_signal(self, *args: Any) -> None:
        """Approve, fire-and-forget: a refusal is recorded as a refused attempt."""
        await self.vote_by_signal(
            "approve", ApproveInput, args, self.approval_refusal, self.record_approval
        )

    @workflow.signal
    async def reject_signal(self, *args: Any) -> None:
        """Reject, fire-and-forget: a refusal is recorded as a refused attempt."""
        await self.vote_by_signal(
            "reject", RejectInput, args, self.rejection_refusal, self.record_rejection
        )

    @workflow.signal
    async def cancel_signal(self, *args: Any) -> None:
        """Cancel, fire-and-forget: a refusal is recorded as a refused attempt."""
        await self.vote_by_signal(
            "cancel", CancelInput, args, self.cancel_refusal, self.record_cancel
        )

    # -- main line ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: SubmitRequestInput) -> RequestWorkflowResult:
        """Evaluate the request, then take the lifecycle's next step until it is final."""
        self.took(lifecycle.submit(self.request, workflow.now()))
        if self.is_compensation() and not await self.plan_compensation():
            self.admitted = True
            return await self.compensation_refused()
        if self.has_dependencies():
            await self.await_dependencies()
            # Votes are refused while the policies run (and nothing is left to cancel then).
            self.admitted = False
        if self.request.status == RequestStatus.PENDING:
            await self._first_evaluation()
            await self.supersede_older()
        self.admitted = True
        if self.break_glass_refusal:
            return await self.break_glass_refused()
        if self.request.break_glass:
            # Announced on its own, before its status's event: an emergency was declared.
            await self.notify("request.break_glass", break_glass_event(self.request))
        while not isinstance(step := lifecycle.next_step(self.request), lifecycle.Done):
            await self.notify_change()
            if isinstance(step, lifecycle.AwaitApprovals):
                await self._await_approvals(step.deadline)
            elif isinstance(step, lifecycle.AwaitSchedule):
                await self.await_schedule(step.until)
            elif isinstance(step, lifecycle.AwaitQuota):
                await self.await_quota(step.until)
            elif step.batch:
                await execute_batch(self)
            else:
                await self._resolve_and_execute()
        await self.notify_change()
        await workflow.wait_condition(workflow.all_handlers_finished)
        req = self.request
        rejection = req.rejection
        return RequestWorkflowResult(
            request_id=req.request_id,
            status=req.status,
            resulting_version=req.resulting_version,
            outcome=(f"{rejection.code.value}: {rejection.reason}" if rejection else req.error)
            or "",
        )

    async def _first_evaluation(self) -> None:
        """Run the policies (executing directly when allowed and the state is free), then save."""
        # Held through the evaluation: a request that executes directly stores its first
        # revision with the change (refusals recorded meanwhile are saved after it).
        async with self.save_lock:
            seen = len(self.request.decisions)
            evaluation = await self._evaluate(join_lane_if_allowed=True)
            self.supersede_declared = evaluation is not None and evaluation.supersede
            executed = evaluation.executed if evaluation else None
            if evaluation is not None and executed is not None and executed.request:
                self.on_stale = evaluation.on_stale
                self._adopt(executed.request, seen)
            elif self.refuse_break_glass(evaluation):
                return
            elif evaluation is not None:
                self._admit(evaluation)
                self.lane_queued = evaluation.lane_requested
        if executed is not None and executed.request is None:
            # A conflict needs no stale step here: the request is approved, and its turn on
            # the lane resolves the version again.
            self.took(
                lifecycle.execution_refused(self.request, executed, workflow.now(), via_lane=False)
            )
        if self.request.status != RequestStatus.EXECUTED:
            await self.save()

    async def _evaluate(self, *, join_lane_if_allowed: bool = False) -> EvaluateResult | None:
        try:
            evaluation: EvaluateResult = await workflow.execute_activity(
                EVALUATE_ACTIVITY,
                EvaluateInput(
                    request=self.request,
                    join_lane_if_allowed=join_lane_if_allowed,
                    task_queue=workflow.info().task_queue,
                    # The first evaluation is the submission's: it checks the signature.
                    check_submit=join_lane_if_allowed and not self.submit_checked,
                    envelope=self.submit_envelope if join_lane_if_allowed else None,
                    signature=self.submit_signature if join_lane_if_allowed else None,
                    submitted_at=workflow.info().workflow_start_time
                    if join_lane_if_allowed
                    else None,
                ),
                result_type=EvaluateResult,
                # The first evaluation may execute the request directly, so it runs on the
                # slot-limited execution queue.
                task_queue=workflow.info().task_queue
                + (EXECUTION_QUEUE_SUFFIX if join_lane_if_allowed else ""),
                start_to_close_timeout=timedelta(seconds=60 if join_lane_if_allowed else 30),
                retry_policy=EVALUATE_RETRY,
            )
            self.learn_webhooks(evaluation.webhooks)
            return evaluation
        except ActivityError as exc:
            cause = exc.cause
            message = str(cause) if cause else str(exc)
            error_type = cause.type if isinstance(cause, ApplicationError) else None
            self.took(lifecycle.evaluation_error(self.request, error_type, message, workflow.now()))
            return None

    def _admit(self, evaluation: EvaluateResult) -> None:
        self.on_stale = evaluation.on_stale
        evaluation = self.admitted_policies(self.admitted_checks(evaluation))
        self.took(lifecycle.admit(self.request, evaluation, workflow.now()))

    async def _await_approvals(self, deadline: datetime) -> None:
        """Wait for votes and check reports until every gate is met, or ``deadline``.

        A gate passing moves the first gate deadline (a check reported before the approvals'
        deadline): the wait ends, and the next step waits again until the new one.
        Without checks the deadline never moves.
        """
        remaining = (deadline - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(
                lambda: (
                    self.request.status != RequestStatus.PENDING
                    or lifecycle.gates_met(self.request)
                    or lifecycle.gate_deadline(self.request) != deadline
                ),
                timeout=max(remaining, 0.001),
            )
        except TimeoutError:
            self.took(lifecycle.deadline_passed(self.request, workflow.now()))
            await self.save()
            return
        if self.request.status == RequestStatus.PENDING and lifecycle.gates_met(self.request):
            workflow.metric_meter().create_histogram_timedelta(
                metrics.APPROVAL_WAIT, "Submission to approval quorum", "s"
            ).record(workflow.now() - self.request.created_at, {"mutation": self.request.mutation})
            self.took(lifecycle.gates_complete(self.request, workflow.now()))
            await self.save()

    async def _resolve_and_execute(self) -> None:
        """Resolve the version if the request waited, then queue on the state's lane.

        The request queues with what to execute, and the lane runs it in its turn.

        The projection is not written meanwhile (the execution stores the next revision
        with the change); handlers that record something wait for the save lock.
        """
        if await self.end_if_superseded():
            return
        resolution = await resolve_version(self.request, self.on_stale)
        if resolution is not None and resolution.outcome == VersionOutcome.STALE:
            await self._on_stale(resolution.current_version)
            return
        if await self.end_if_superseded():
            return
        state_id = self.request.state_id
        async with self.save_lock:
            prepared = self.request.model_copy(deep=True)
            prepared.revision = self.request.revision + 1
            seen = len(self.request.decisions)
            execution = LaneExecution(request=prepared, expected_version=self.request.base_version)
            workflow.set_current_details(f"**approved**\n\nin line on state {state_id}")
            outcome = await self.lane(state_id).execute(
                execution, already_queued=self.lane_queued, withdraw_if=self.withdraw_asked
            )
            self.lane_queued = False
            if outcome.request is not None:
                self._adopt(outcome.request, seen)
                return
        if await self.withdrawn_from_lane(outcome):
            return
        effect = self.took(
            lifecycle.execution_refused(self.request, outcome, workflow.now(), via_lane=True)
        )
        if isinstance(effect.then, lifecycle.ResolveStale):
            await self._on_stale(effect.then.current_version)
            return
        await self.save()

    def _adopt(self, stored: MutationRequest, seen: int) -> None:
        """Take the request as its execution stored it; keep decisions recorded since."""
        self.request = lifecycle.adopt(self.request, stored, seen)
        self.upsert_status()

    async def _on_stale(self, current: int) -> None:
        workflow.metric_meter().create_counter(metrics.STALE, "Stale version resolutions").add(
            1, {"mutation": self.request.mutation, "strategy": self.on_stale}
        )
        effect = self.took(lifecycle.stale(self.request, self.on_stale, current, workflow.now()))
        if isinstance(effect.then, lifecycle.Reevaluate):
            evaluation = await self._evaluate()
            if evaluation is not None:
                evaluation = self.admitted_policies(evaluation)
                now = workflow.now()
                if self.on_stale == "reapprove_if_changed" and workflow.patched(
                    REAPPROVE_IF_CHANGED_PATCH
                ):
                    self.took(
                        lifecycle.approval_kept_if_unchanged(self.request, evaluation, current, now)
                    )
                else:
                    self.took(lifecycle.revalidated(self.request, evaluation, current, now))
        await self.plan_again_if_reapproving()
        await self.save()
