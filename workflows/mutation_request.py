"""One governed mutation request, from submission to its final status.

The workflow is the single writer of its request: handlers change the in-memory request,
every change is written to the SQL projection with the next revision, and the execute
activity writes the final ``executed`` revision in the same transaction as the state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.batch_execution import execute_batch
from workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import approvals as rules
    from mutator import metrics
    from mutator.contracts import (
        ERR_POLICY_FAILED,
        ERR_REFUSED,
        ERR_UNKNOWN_MUTATION,
        ERR_VALIDATION,
        ERR_VERSION_CONFLICT,
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
    )
    from mutator.lane_contracts import (
        LaneExecution,
        LaneGrant,
        LaneOutcome,
    )
    from mutator.models import (
        Approval,
        BatchItemResult,
        DecisionCategory,
        ItemOutcome,
        MutationRequest,
        PendingReason,
        RejectionCode,
        RequestStatus,
        SubmitRequestInput,
    )


EVALUATE_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[ERR_UNKNOWN_MUTATION, ERR_POLICY_FAILED],
)


# How long the submit update waits for an allowed request to execute.
ADMISSION_SETTLE_SECONDS = 10.0


def _raise_if(refusal: str | None) -> None:
    if refusal:
        raise _refused(refusal)


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=ERR_REFUSED, non_retryable=True)


@workflow.defn(name=REQUEST_WORKFLOW)
class MutationRequestWorkflow(RequestRecord):
    @workflow.init
    def __init__(self, input: SubmitRequestInput) -> None:
        now = workflow.now()
        self.request = MutationRequest(
            request_id=input.request_id,
            state_id=input.state_id,
            mutation=input.mutation,
            payload=input.payload,
            requester=input.requester,
            reason=input.reason,
            status=RequestStatus.PENDING,
            expected_version=input.expected_version,
            base_version=input.expected_version,
            batch_mode=input.batch_mode,
            items=[
                BatchItemResult(
                    index=index,
                    state_id=item.state_id,
                    mutation=item.mutation,
                    payload=item.payload,
                    expected_version=item.expected_version,
                    base_version=item.expected_version,
                )
                for index, item in enumerate(input.items)
            ],
            created_at=now,
            updated_at=now,
        )
        self.admitted = False
        self.save_lock = asyncio.Lock()
        self.lanes = {}
        self.lane_queued = False
        self.on_stale = "reject"

    # -- queries, updates and signals ---------------------------------------------------

    @workflow.signal
    def lane_granted(self, grant: LaneGrant) -> None:
        self.on_lane_grant(grant)

    @workflow.signal
    def lane_executed(self, outcome: LaneOutcome) -> None:
        self.lane(outcome.state_id).on_outcome(outcome)

    @workflow.query
    def status(self) -> MutationRequest:
        return self.request

    @workflow.update
    async def admission(self, _input: AdmissionInput) -> RequestUpdateResult:
        """Returns once policies have decided; a request allowed at once usually also
        executes within this wait, so `submit` shows the outcome without another call."""
        await workflow.wait_condition(lambda: self.admitted)
        # On timeout it is queued behind others on its state: the caller gets `approved`.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self.request.status not in (RequestStatus.APPROVED, RequestStatus.EXECUTING)
                ),
                timeout=ADMISSION_SETTLE_SECONDS,
            )
        return RequestUpdateResult(request=self.request)

    @workflow.update
    async def approve(self, input: ApproveInput) -> RequestUpdateResult:
        return await self._accept(
            self._approval_refusal(input.actor), lambda: self._record_approval(input)
        )

    @approve.validator
    def _validate_approve(self, input: ApproveInput) -> None:
        _raise_if(self._approval_refusal(input.actor))

    @workflow.update
    async def reject(self, input: RejectInput) -> RequestUpdateResult:
        return await self._accept(
            self._rejection_refusal(input), lambda: self._record_rejection(input)
        )

    @reject.validator
    def _validate_reject(self, input: RejectInput) -> None:
        _raise_if(self._rejection_refusal(input))

    @workflow.update
    async def cancel(self, input: CancelInput) -> RequestUpdateResult:
        return await self._accept(
            self._cancel_refusal(input.actor), lambda: self._record_cancel(input)
        )

    @cancel.validator
    def _validate_cancel(self, input: CancelInput) -> None:
        _raise_if(self._cancel_refusal(input.actor))

    async def _accept(self, refusal: str | None, record: Callable[[], None]) -> RequestUpdateResult:
        # Checked again: another vote may have landed between validation and this handler.
        _raise_if(refusal)
        record()
        await self.save()
        return RequestUpdateResult(request=self.request)

    @workflow.signal
    async def approve_signal(self, input: ApproveInput) -> None:
        await self._signal(
            input.actor,
            self._approval_refusal(input.actor),
            "approve",
            lambda: self._record_approval(input),
        )

    @workflow.signal
    async def reject_signal(self, input: RejectInput) -> None:
        await self._signal(
            input.actor,
            self._rejection_refusal(input),
            "reject",
            lambda: self._record_rejection(input),
        )

    @workflow.signal
    async def cancel_signal(self, input: CancelInput) -> None:
        await self._signal(
            input.actor,
            self._cancel_refusal(input.actor),
            "cancel",
            lambda: self._record_cancel(input),
        )

    async def _signal(
        self, actor: str, refusal: str | None, action: str, accept: Callable[[], None]
    ) -> None:
        # Signals cannot answer the sender, so a refused one stays on the record instead.
        if refusal:
            self.decide(DecisionCategory.APPROVAL, "refused_attempt", actor, f"{action}: {refusal}")
        else:
            accept()
        await self.save()

    # -- main line ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: SubmitRequestInput) -> RequestWorkflowResult:
        self.decide(DecisionCategory.LIFECYCLE, "submitted", input.requester, input.reason)
        # Held through the evaluation: a request that executes directly stores its first
        # revision with the change (refusals recorded meanwhile are saved after it).
        async with self.save_lock:
            seen = len(self.request.decisions)
            evaluation = await self._evaluate(join_lane_if_allowed=True)
            executed = evaluation.executed if evaluation else None
            if evaluation is not None and executed is not None and executed.request:
                self.on_stale = evaluation.on_stale
                self._adopt(executed.request, seen)
            elif evaluation is not None:
                self._admit(evaluation)
                self.lane_queued = evaluation.lane_requested
        if executed is not None and executed.request is None:
            self._record_failure(executed, via_lane=False)
        if self.request.status != RequestStatus.EXECUTED:
            await self.save()
        self.admitted = True
        while not self.request.status.is_terminal:
            if self.request.status == RequestStatus.PENDING:
                await self._await_approvals()
            elif self.request.status == RequestStatus.APPROVED and self.request.items:
                await execute_batch(self)
            elif self.request.status == RequestStatus.APPROVED:
                await self._resolve_and_execute()
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

    async def _evaluate(self, *, join_lane_if_allowed: bool = False) -> EvaluateResult | None:
        try:
            evaluation: EvaluateResult = await workflow.execute_activity(
                EVALUATE_ACTIVITY,
                EvaluateInput(
                    request=self.request,
                    join_lane_if_allowed=join_lane_if_allowed,
                    task_queue=workflow.info().task_queue,
                ),
                result_type=EvaluateResult,
                # The first evaluation may execute the request directly, so it runs on the
                # slot-limited execution queue.
                task_queue=workflow.info().task_queue
                + (EXECUTION_QUEUE_SUFFIX if join_lane_if_allowed else ""),
                start_to_close_timeout=timedelta(seconds=60 if join_lane_if_allowed else 30),
                retry_policy=EVALUATE_RETRY,
            )
            return evaluation
        except ActivityError as exc:
            cause = exc.cause
            message = str(cause) if cause else str(exc)
            if isinstance(cause, ApplicationError) and cause.type == ERR_UNKNOWN_MUTATION:
                self.reject_with(RejectionCode.VALIDATION_FAILED, message)
            else:
                self.fail(message)
            return None

    def _admit(self, evaluation: EvaluateResult) -> None:
        self.on_stale = evaluation.on_stale
        if evaluation.outcome in ("deny", "invalid"):
            for item in self.request.items:
                item.outcome = ItemOutcome.NOT_RUN
                item.reason = f"not run: the request was refused ({evaluation.outcome})"
        if evaluation.outcome == "deny":
            self.reject_with(RejectionCode.POLICY_DENIED, evaluation.reason)
        elif evaluation.outcome == "invalid":
            self.reject_with(RejectionCode.VALIDATION_FAILED, evaluation.reason)
        elif evaluation.outcome == "require_approvals":
            self.request.required_approvals = evaluation.requirements
            for item, version in zip(self.request.items, evaluation.item_versions, strict=False):
                if item.base_version is None:
                    item.base_version = version
            if self.request.base_version is None and not self.request.items:
                # Approvers judge the state as it was at submission: that is the base.
                self.request.base_version = evaluation.state_version
            self._await_approval_state(PendingReason.APPROVAL)
        else:
            self.set_status(RequestStatus.APPROVED, None, "approved", "policy", "allowed by policy")

    def _await_approval_state(self, reason: PendingReason) -> None:
        timeout = min(r.timeout_seconds for r in self.request.required_approvals)
        self.request.deadline = workflow.now() + timedelta(seconds=timeout)
        self.set_status(
            RequestStatus.PENDING,
            reason,
            "pending",
            "policy",
            rules.describe_progress(
                self.request.required_approvals, self.request.requester, self.request.approvals
            ),
        )

    async def _await_approvals(self) -> None:
        assert self.request.deadline is not None
        remaining = (self.request.deadline - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(
                lambda: self.request.status != RequestStatus.PENDING or self._quorum(),
                timeout=max(remaining, 0.001),
            )
        except TimeoutError:
            if self.request.status == RequestStatus.PENDING and not self._quorum():
                self.set_status(
                    RequestStatus.EXPIRED,
                    None,
                    "expired",
                    "system",
                    "no quorum before the deadline",
                )
            await self.save()
            return
        if self.request.status == RequestStatus.PENDING:
            workflow.metric_meter().create_histogram_timedelta(
                metrics.APPROVAL_WAIT, "Submission to approval quorum", "s"
            ).record(workflow.now() - self.request.created_at, {"mutation": self.request.mutation})
            self.set_status(
                RequestStatus.APPROVED,
                None,
                "approved",
                "approvers",
                rules.describe_progress(
                    self.request.required_approvals, self.request.requester, self.request.approvals
                ),
            )
            await self.save()

    async def _resolve_and_execute(self) -> None:
        """Queue on the state's lane with what to execute; the lane runs it in turn.

        The projection is not written meanwhile (the execution stores the next revision
        with the change); handlers that record something wait for the save lock.
        """
        state_id = self.request.state_id
        async with self.save_lock:
            prepared = self.request.model_copy(deep=True)
            prepared.revision = self.request.revision + 1
            seen = len(self.request.decisions)
            execution = LaneExecution(request=prepared, expected_version=self.request.base_version)
            workflow.set_current_details(f"**approved**\n\nin line on state {state_id}")
            outcome = await self.lane(state_id).execute(execution, already_queued=self.lane_queued)
            self.lane_queued = False
            if outcome.request is not None:
                self._adopt(outcome.request, seen)
                return
        self._record_failure(outcome, via_lane=True)
        if outcome.error_type == ERR_VERSION_CONFLICT and outcome.current_version is not None:
            await self._on_stale(outcome.current_version)
            return
        await self.save()

    def _adopt(self, stored: MutationRequest, seen: int) -> None:
        """Take the request as its execution stored it; keep decisions recorded since."""
        arrived = self.request.decisions[seen:]
        self.request = stored
        self.request.decisions.extend(arrived)
        self.upsert_status()

    def _record_failure(self, outcome: LaneOutcome, *, via_lane: bool) -> None:
        if via_lane:
            self.decide(
                DecisionCategory.LIFECYCLE,
                "lane_acquired",
                "system",
                f"fencing token {outcome.token}",
            )
        if outcome.error_type == ERR_VERSION_CONFLICT and outcome.current_version is not None:
            self.decide(DecisionCategory.VERSION_RESOLUTION, "conflict", "system", outcome.error)
        elif outcome.error_type in (ERR_VALIDATION, ERR_UNKNOWN_MUTATION):
            self.reject_with(RejectionCode.VALIDATION_FAILED, outcome.error)
        else:
            self.fail(outcome.error)

    async def _on_stale(self, current: int) -> None:
        workflow.metric_meter().create_counter(metrics.STALE, "Stale version resolutions").add(
            1, {"mutation": self.request.mutation, "strategy": self.on_stale}
        )
        base = self.request.base_version
        reason = f"base version {base}, state is at version {current}"
        self.decide(DecisionCategory.VERSION_RESOLUTION, "stale", "system", reason)
        if self.on_stale == "reapprove" and not self.request.required_approvals:
            # Allowed at once, stale against its --expected-version: nobody to ask again.
            self.reject_with(RejectionCode.STALE, f"{reason}; no approvals to renew")
        elif self.on_stale == "reapprove":
            self.request.approvals = []
            self.request.base_version = current
            self.decide(
                DecisionCategory.APPROVAL,
                "approvals_reset",
                "system",
                f"re-approval needed against version {current}",
            )
            self._await_approval_state(PendingReason.APPROVAL)
        elif self.on_stale == "revalidate":
            self.request.base_version = current
            evaluation = await self._evaluate()
            if evaluation is None:
                pass
            elif evaluation.outcome in ("deny", "invalid"):
                self._admit(evaluation)
            elif evaluation.outcome == "require_approvals":
                self.request.required_approvals = evaluation.requirements
                if self._quorum():
                    self.decide(
                        DecisionCategory.VERSION_RESOLUTION,
                        "revalidated",
                        "system",
                        f"policies and validators pass on version {current}",
                    )
                else:
                    self._await_approval_state(PendingReason.REVALIDATION)
            else:
                self.decide(
                    DecisionCategory.VERSION_RESOLUTION,
                    "revalidated",
                    "system",
                    f"policies and validators pass on version {current}",
                )
        else:
            self.reject_with(RejectionCode.STALE, reason)
        await self.save()

    # -- rules --------------------------------------------------------------------------

    def _quorum(self) -> bool:
        return rules.quorum_met(
            self.request.required_approvals, self.request.requester, self.request.approvals
        )

    def _closed_refusal(self) -> str | None:
        status = self.request.status
        if not self.admitted:
            return "the request is still being evaluated; try again in a moment"
        if status != RequestStatus.PENDING:
            return f"request {self.request.request_id} is {status.value}; it no longer takes votes"
        return None

    def _approval_refusal(self, actor: str) -> str | None:
        return self._closed_refusal() or rules.refuse_approval(
            self.request.required_approvals, self.request.requester, self.request.approvals, actor
        )

    def _rejection_refusal(self, input: RejectInput) -> str | None:
        if not input.reason.strip():
            return "reason must not be empty: say why the request is rejected"
        return self._closed_refusal() or rules.refuse_rejection(
            self.request.required_approvals, input.actor
        )

    def _cancel_refusal(self, actor: str) -> str | None:
        status = self.request.status
        if self.admitted and status != RequestStatus.PENDING:
            return (
                f"request {self.request.request_id} is {status.value}; it can no longer be canceled"
            )
        return self._closed_refusal() or rules.refuse_cancel(
            self.request.required_approvals, self.request.requester, actor
        )

    def _record_approval(self, input: ApproveInput) -> None:
        self.request.approvals.append(
            Approval(actor=input.actor, comment=input.comment, at=workflow.now())
        )
        self.decide(DecisionCategory.APPROVAL, "approved", input.actor, input.comment)
        self.show_progress()

    def _record_rejection(self, input: RejectInput) -> None:
        self.decide(DecisionCategory.APPROVAL, "rejected", input.actor, input.reason)
        self.reject_with(RejectionCode.APPROVER_REJECTED, input.reason, input.actor)

    def _record_cancel(self, input: CancelInput) -> None:
        self.set_status(RequestStatus.CANCELED, None, "canceled", input.actor, input.reason)

    # -- bookkeeping --------------------------------------------------------------------
