"""The lane runs the execution of a request whose turn it is, then tells the request.

Running it from the lane (not from the request) makes a hand-over on a busy state one
workflow task: the execution's completion and the next execution's start are one task.

The lane retries the execution itself instead of leaving it to Temporal's retry policy:
an attempt that timed out (its worker stopped heartbeating) may still be running somewhere,
so the next attempt runs under a new fencing token, with the store's fence raised to it
first; the request keeps its place at the head of the lane meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from mutator.contracts import (
        ERR_FENCED_OUT,
        ERR_HANDLER_TIMEOUT,
        ERR_MUTATION_FAILED,
        ERR_OWNER_GONE,
        ERR_UNKNOWN_MUTATION,
        ERR_VALIDATION,
        ERR_VERSION_CONFLICT,
        EXECUTE_ACTIVITY,
        ExecuteInput,
        ExecuteResult,
    )
    from mutator.lane_contracts import (
        DEFAULT_EXECUTION_TIMEOUT_SECONDS,
        DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
        LEASE_EXPIRED,
        LaneExecution,
        LaneOutcome,
        closed_schedule,
        exceeded_quota,
    )

FINAL_ERRORS = [
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    ERR_MUTATION_FAILED,
    ERR_FENCED_OUT,
    ERR_OWNER_GONE,
    ERR_HANDLER_TIMEOUT,
]
EXECUTE_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=FINAL_ERRORS
)
# One attempt per activity: the lane decides about the next one (see the module's doc).
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
RETRY_FIRST_INTERVAL = timedelta(seconds=1)
RETRY_MAX_INTERVAL = timedelta(seconds=10)
# Defaults only: the worker's interceptor (mutator/execution_timeouts.py) sets both.
HEARTBEAT_TIMEOUT = timedelta(seconds=DEFAULT_HEARTBEAT_TIMEOUT_SECONDS)
ATTEMPT_BACKSTOP = timedelta(seconds=DEFAULT_EXECUTION_TIMEOUT_SECONDS + 20)


async def run_execution(
    *,
    state_id: str,
    owner: str,
    token: int,
    granted_at: datetime,
    execution: LaneExecution,
    task_queue: str,
    timeout: timedelta,
    new_token: Callable[[], Awaitable[int]],
) -> LaneOutcome:
    """Execute under fencing token ``token`` until it applies or ends for good.

    A lost attempt (no heartbeat: its worker died) is retried under ``await new_token()``,
    which fences the lost one out; other transient errors are retried under the same token.
    ``timeout`` is the handler's own limit per attempt, enforced by the activity.
    """
    backoff = RETRY_FIRST_INTERVAL
    while True:
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
                start_to_close_timeout=ATTEMPT_BACKSTOP,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=ONE_ATTEMPT,
            )
            return LaneOutcome(state_id=state_id, token=token, request=result.request)
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, TimeoutError):
                workflow.logger.info(
                    "execution of %s on %s (token %s) lost its worker; retrying",
                    owner,
                    state_id,
                    token,
                )
                token = await new_token()
                continue
            if isinstance(cause, ApplicationError) and cause.type == ERR_HANDLER_TIMEOUT:
                return LaneOutcome(
                    state_id=state_id,
                    token=token,
                    error_type=LEASE_EXPIRED,
                    error=(
                        f"the handler ran past its limit of {timeout.total_seconds():g} s: its "
                        f"lease on {state_id} (fencing token {token}) expired and passed on, "
                        "and the store refuses its change"
                    ),
                )
            if isinstance(cause, ApplicationError) and (
                cause.non_retryable or cause.type in FINAL_ERRORS
            ):
                current = cause.details[0] if cause.details else None
                return LaneOutcome(
                    state_id=state_id,
                    token=token,
                    error_type=cause.type or "",
                    error=str(cause),
                    current_version=current if isinstance(current, int) else None,
                    schedule=closed_schedule(cause.type, cause.details),
                    quota=exceeded_quota(cause.type, cause.details),
                )
            workflow.logger.info("execution of %s failed, retrying: %s", owner, cause or exc)
            await workflow.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_INTERVAL)
