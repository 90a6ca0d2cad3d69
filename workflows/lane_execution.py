"""The lane runs the execution of a request whose turn it is, then tells the request.

Running it from the lane (not from the request) makes a hand-over on a busy state one
workflow task: the execution's completion and the next execution's start are one task.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from mutator.contracts import (
        ERR_FENCED_OUT,
        ERR_MUTATION_FAILED,
        ERR_OWNER_GONE,
        ERR_UNKNOWN_MUTATION,
        ERR_VALIDATION,
        ERR_VERSION_CONFLICT,
        EXECUTE_ACTIVITY,
        ExecuteInput,
        ExecuteResult,
    )
    from mutator.lane_contracts import LEASE_EXPIRED, LaneExecution, LaneOutcome

EXECUTE_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[
        ERR_UNKNOWN_MUTATION,
        ERR_VALIDATION,
        ERR_VERSION_CONFLICT,
        ERR_MUTATION_FAILED,
        ERR_FENCED_OUT,
        ERR_OWNER_GONE,
    ],
)


async def run_execution(
    *,
    state_id: str,
    owner: str,
    token: int,
    granted_at: datetime,
    execution: LaneExecution,
    task_queue: str,
    lease: timedelta,
    timeout: timedelta,
) -> LaneOutcome:
    """Execute under fencing token ``token``; heartbeats within ``lease`` renew it, and
    ``timeout`` bounds the whole execution, retries included (then: LEASE_EXPIRED)."""
    try:
        result = await workflow.execute_activity(
            EXECUTE_ACTIVITY,
            ExecuteInput(
                request=execution.request,
                expected_version=execution.expected_version,
                fencing_token=token,
                granted_at=granted_at,
                lane_owner=owner,
            ),
            result_type=ExecuteResult,
            task_queue=task_queue,
            schedule_to_close_timeout=timeout,
            heartbeat_timeout=lease,
            retry_policy=EXECUTE_RETRY,
        )
    except ActivityError as exc:
        cause = exc.cause
        if isinstance(cause, TimeoutError):
            return LaneOutcome(
                state_id=state_id,
                token=token,
                error_type=LEASE_EXPIRED,
                error=(
                    f"the execution did not finish within {timeout.total_seconds():g} s: its "
                    f"lease on {state_id} (fencing token {token}) expired and passed on, and "
                    "the store refuses its change"
                ),
            )
        if isinstance(cause, ApplicationError):
            current = cause.details[0] if cause.details else None
            return LaneOutcome(
                state_id=state_id,
                token=token,
                error_type=cause.type or "",
                error=str(cause),
                current_version=current if isinstance(current, int) else None,
            )
        return LaneOutcome(state_id=state_id, token=token, error_type="", error=str(cause or exc))
    return LaneOutcome(state_id=state_id, token=token, request=result.request)
