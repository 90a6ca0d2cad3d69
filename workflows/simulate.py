"""A dry-run: one activity on a worker, which has the app's code; nothing is stored.

The workflow only carries the activity's answer back to the caller (``client.simulate``),
a failed activity included, so a refused dry-run does not show as a failed workflow.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from mutator.contracts import ERR_POLICY_FAILED, ERR_UNKNOWN_MUTATION
    from mutator.simulate_contracts import (
        SIMULATE_ACTIVITY,
        SIMULATE_WORKFLOW,
        SimulateInput,
        SimulateResult,
    )

SIMULATE_RETRY = RetryPolicy(
    maximum_attempts=3,
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=[ERR_UNKNOWN_MUTATION, ERR_POLICY_FAILED],
)


@workflow.defn(name=SIMULATE_WORKFLOW)
class SimulateWorkflow:
    """Run ``mutator.simulate`` once and return what it found."""

    @workflow.run
    async def run(self, input: SimulateInput) -> SimulateResult:
        """The dry-run's result; a refused or failed activity as its ``error``."""
        try:
            result: SimulateResult = await workflow.execute_activity(
                SIMULATE_ACTIVITY,
                input,
                result_type=SimulateResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=SIMULATE_RETRY,
            )
            return result
        except ActivityError as exc:
            cause = exc.cause
            return SimulateResult(
                error_type=(cause.type or "") if isinstance(cause, ApplicationError) else "",
                error=str(cause) if cause else str(exc),
            )
