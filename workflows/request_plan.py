"""A request's planned diff, made again when its approvers are asked again (reapprove).

``on_stale="reapprove"`` runs no policy again, so nothing else would recompute the change:
the approvers asked against the new base version would see the change on the old one.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from mutator.models import MutationRequest, OnStale, PendingReason, RequestStatus
    from mutator.simulate_contracts import (
        PLAN_ACTIVITY,
        REAPPROVE_PLANS_PATCH,
        PlanInput,
        PlanResult,
    )

PLAN_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5))


class RequestPlan:
    """Plans the change again for a request whose approvals were reset (``reapprove``)."""

    request: MutationRequest
    on_stale: OnStale

    async def plan_again_if_reapproving(self) -> None:
        """After ``reapprove`` reset the approvals: the change on the new base version.

        A plan that cannot be made (the activity failed for good) leaves no planned diff
        rather than the old one.
        """
        req = self.request
        if (
            self.on_stale != "reapprove"
            or (req.status, req.pending_reason) != (RequestStatus.PENDING, PendingReason.APPROVAL)
            or req.items
            or not workflow.patched(REAPPROVE_PLANS_PATCH)
        ):
            return
        try:
            planned: PlanResult = await workflow.execute_activity(
                PLAN_ACTIVITY,
                PlanInput(request=req),
                result_type=PlanResult,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PLAN_RETRY,
            )
        except ActivityError:
            self.request.planned_diff = None
            return
        self.request.planned_diff = planned.planned_diff
