"""What `submit` says when no worker answers in time: busy (it will run) or none at all.

Temporal keeps listing a task queue's pollers for minutes after they stop, so a worker
counts as present only when it polled recently (``POLLER_SEEN_SECONDS``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from mutator.errors import MutatorUnavailable
from mutator.limits import positive_seconds
from mutator.models import MutationRequest, PendingReason, submitted_request
from mutator.models import SubmitRequestInput as Submitted

# How long submit waits for a worker to evaluate policies before telling the user.
ADMISSION_TIMEOUT_SECONDS = 30.0
ENV_ADMISSION_TIMEOUT = "MUTATOR_ADMISSION_TIMEOUT_SECONDS"
# A running worker polls its task queue at least this often (a long poll lasts about a
# minute at most); one not seen for longer has stopped.
POLLER_SEEN_SECONDS = 90.0
DESCRIBE_TIMEOUT_SECONDS = 3.0


def admission_timeout_from_env() -> float:
    """MUTATOR_ADMISSION_TIMEOUT_SECONDS, else the default of 30 seconds.

    Raises:
        MutatorInputError: The variable is not a positive number.
    """
    raw = os.environ.get(ENV_ADMISSION_TIMEOUT, "").strip()
    if not raw:
        return ADMISSION_TIMEOUT_SECONDS
    return positive_seconds(raw, f"{ENV_ADMISSION_TIMEOUT}:")


async def worker_last_seen(temporal: Client, task_queue: str) -> float | None:
    """Seconds since a worker last polled ``task_queue`` for workflow tasks.

    Returns:
        The age of the most recent poll; None when none was within POLLER_SEEN_SECONDS.

    Raises:
        MutatorUnavailable: Temporal cannot describe the task queue.
    """
    try:
        described = await temporal.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=DESCRIBE_TIMEOUT_SECONDS),
        )
    except RPCError as exc:
        raise MutatorUnavailable(
            f"no worker answered in time and Temporal could not say whether one polls task "
            f"queue {task_queue!r}: {exc}"
        ) from exc
    now = datetime.now(UTC)
    ages = [
        (now - poller.last_access_time.ToDatetime(UTC)).total_seconds()
        for poller in described.pollers
        if poller.HasField("last_access_time")
    ]
    recent = [age for age in ages if age <= POLLER_SEEN_SECONDS]
    return max(0.0, min(recent)) if recent else None


def no_worker(submitted: Submitted, task_queue: str, waited: float) -> MutatorUnavailable:
    """The error of a submission nobody evaluated because no worker polls ``task_queue``."""
    return MutatorUnavailable(
        f"request {submitted.request_id} was submitted but no worker polls task queue "
        f"{task_queue!r} (none evaluated it within {waited:g}s): start `mutator worker` "
        "(or `mutator dev`); the request runs once a worker is up"
    )


def not_yet_evaluated(
    submitted: Submitted, task_queue: str, waited: float, last_seen: float
) -> MutationRequest:
    """The request as it stands before a worker evaluated it: what the workflow holds."""
    request = submitted_request(submitted, datetime.now(UTC))
    request.pending_reason = PendingReason.EVALUATION
    request.error = (
        f"not evaluated within {waited:g}s: the worker on task queue {task_queue!r} "
        f"(last polled {last_seen:.0f}s ago) is busy or restarting; the request will run "
        f"(`mutator wait {submitted.request_id}`)"
    )
    return request
