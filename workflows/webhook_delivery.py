"""One webhook event's delivery: its own workflow, so that no request ever waits for it.

A request starts one ``WebhookDelivery`` per event as an abandoned child
(``workflows/request_notify.py``): the request goes on, and completes, while the delivery
retries. The workflow runs ``mutator.deliver_webhook`` on ``<task queue>-webhooks``; the
activity decides the waits between attempts (exponential, ``next_retry_delay``) and when to
give up (``WebhookConfig.max_attempts``), and records every attempt. The workflow ends
with how the delivery ended; it never fails.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from mutator.notifications import (
        DELIVER_WEBHOOK_ACTIVITY,
        ERR_WEBHOOK_GAVE_UP,
        ERR_WEBHOOK_NOT_CONFIGURED,
        WEBHOOK_QUEUE_SUFFIX,
        WEBHOOK_WORKFLOW,
        DeliverWebhookInput,
        DeliverWebhookResult,
    )

# The activity sets each wait itself; these apply only to a crashed attempt (no answer).
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ERR_WEBHOOK_GAVE_UP, ERR_WEBHOOK_NOT_CONFIGURED],
)
# One attempt: the POST (WebhookConfig.timeout_seconds, at most a minute) and its record.
ATTEMPT_LIMIT = timedelta(seconds=90)


def delivery_queue(task_queue: str) -> str:
    """The task queue of the deliveries of requests on ``task_queue``."""
    return task_queue.removesuffix(WEBHOOK_QUEUE_SUFFIX) + WEBHOOK_QUEUE_SUFFIX


@workflow.defn(name=WEBHOOK_WORKFLOW)
class WebhookDeliveryWorkflow:
    """Deliver one event, retrying with backoff until it is delivered or given up."""

    @workflow.run
    async def run(self, input: DeliverWebhookInput) -> DeliverWebhookResult:
        """Run the delivery activity until it succeeds or gives up; never fails."""
        try:
            result: DeliverWebhookResult = await workflow.execute_activity(
                DELIVER_WEBHOOK_ACTIVITY,
                input,
                result_type=DeliverWebhookResult,
                task_queue=delivery_queue(workflow.info().task_queue),
                start_to_close_timeout=ATTEMPT_LIMIT,
                retry_policy=DELIVERY_RETRY,
            )
            return result
        except ActivityError as exc:
            cause = exc.cause
            return DeliverWebhookResult(
                delivered=False, error=str(cause) if cause is not None else str(exc)
            )
