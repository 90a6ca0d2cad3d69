"""The compensation's side of ``mutator compensate``: planned first, refused with nothing stored.

A compensation (``compensates`` set) runs ``mutator.plan_compensation`` before anything
else: the activity checks the original can be compensated as asked, links it
(``compensated_by``) and returns the payload and expected version, which the request takes
before its policies see it. A refusal ends the workflow without a single save: the
admission update fails with it (the caller's exit code 1), and ``mutator show`` finds no
such request. New in this version (``workflow.patched("compensation")``): no earlier
request was a compensation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.compensation_contracts import (
        ERR_COMPENSATION_REFUSED,
        PLAN_COMPENSATION_ACTIVITY,
        PlanCompensationInput,
        PlanCompensationResult,
    )
    from mutator.contracts import RequestWorkflowResult

COMPENSATION_PATCH = "compensation"

PLAN_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=[ERR_COMPENSATION_REFUSED]
)


class RequestCompensation(RequestRecord):
    """Planning a compensation, and ending a refused one without storing it."""

    compensation_refusal: str
    submit_envelope: dict[str, Any] | None
    submit_signature: str | None

    def is_compensation(self) -> bool:
        """Whether the request compensates another (only ever asked of this version)."""
        return self.request.compensates is not None and workflow.patched(COMPENSATION_PATCH)

    async def plan_compensation(self) -> bool:
        """Plan the compensation onto the request; False: refused (kept, not saved)."""
        try:
            plan: PlanCompensationResult = await workflow.execute_activity(
                PLAN_COMPENSATION_ACTIVITY,
                PlanCompensationInput(
                    request=self.request,
                    envelope=self.submit_envelope,
                    signature=self.submit_signature,
                    submitted_at=workflow.info().workflow_start_time,
                ),
                result_type=PlanCompensationResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PLAN_RETRY,
            )
        except ActivityError as exc:
            cause = exc.cause
            self.compensation_refusal = (
                cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            )
            workflow.set_current_details(f"**refused**\n\n{self.compensation_refusal}")
            return False
        self.request.payload = plan.payload
        self.request.expected_version = plan.expected_version
        self.request.base_version = plan.expected_version
        lifecycle.record_compensates(self.request, plan.planned, workflow.now())
        return True

    def raise_compensation_refusal(self) -> None:
        """Fail the admission update with the refusal, if the compensation was refused.

        Raises:
            ApplicationError: ``ERR_COMPENSATION_REFUSED`` with the refusal.
        """
        if self.compensation_refusal:
            raise ApplicationError(
                self.compensation_refusal, type=ERR_COMPENSATION_REFUSED, non_retryable=True
            )

    async def compensation_refused(self) -> RequestWorkflowResult:
        """The workflow's result for a refused compensation (nothing stored)."""
        return await self.ended_unsaved(f"compensation refused: {self.compensation_refusal}")
