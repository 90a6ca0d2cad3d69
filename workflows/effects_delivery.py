"""A request's side effects delivered after its change committed: its own workflow.

The execution activity starts one ``EffectsDelivery`` per execution that stored events
(``activities/effects.py``), with the id ``effects:<request id>`` (a batch item's:
``effects:<request id>#<item>``): the request never waits for it. It lists the events,
then, all at once, runs each ``@app.effect`` handler on each event of its type
(``mutator.run_effect``, retried with exponential backoff) and sends each event to the
webhook (a ``WebhookDelivery`` child, as the requests' own events). It never fails, and
nothing it does touches the state.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from mutator.effects import (
        EFFECT_EVENTS_ACTIVITY,
        EFFECT_WEBHOOK_EVENT_ACTIVITY,
        EFFECTS_WORKFLOW,
        ERR_EFFECT_UNKNOWN,
        RUN_EFFECT_ACTIVITY,
        EffectEventsInput,
        EffectEventsResult,
        EffectsDeliveryInput,
        EffectsDeliveryResult,
        EffectWebhookEventInput,
        RunEffectInput,
        RunEffectResult,
    )
    from mutator.notifications import (
        WEBHOOK_WORKFLOW,
        DeliverWebhookInput,
        DeliverWebhookResult,
        WebhookEvent,
    )

# The activity gives up on its own after EFFECT_MAX_ATTEMPTS (activities/effects.py).
EFFECT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ERR_EFFECT_UNKNOWN],
)
# One run of an effect handler.
EFFECT_ATTEMPT_LIMIT = timedelta(minutes=5)
LIST_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn(name=EFFECTS_WORKFLOW)
class EffectsDeliveryWorkflow:
    """Deliver every event of one request to its handlers and the webhook; never fails."""

    @workflow.run
    async def run(self, input: EffectsDeliveryInput) -> EffectsDeliveryResult:
        """List the request's events, then deliver each to every target until done."""
        listed: EffectEventsResult = await workflow.execute_activity(
            EFFECT_EVENTS_ACTIVITY,
            EffectEventsInput(request_id=input.request_id, keys=input.keys),
            result_type=EffectEventsResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=LIST_RETRY,
        )
        runs = [
            self._run_handler(target.event_id, handler)
            for target in listed.targets
            for handler in target.handlers
        ]
        sends = (
            [self._send(target.event_id, input.request_id) for target in listed.targets]
            if listed.webhook
            else []
        )
        failures = [f for f in await asyncio.gather(*runs, *sends) if f]
        return EffectsDeliveryResult(
            delivered=len(runs) + len(sends) - len(failures), failed=failures
        )

    async def _run_handler(self, event_id: str, handler: str) -> str:
        """Run one handler on one event until it returns or is given up: "" or the failure."""
        try:
            await workflow.execute_activity(
                RUN_EFFECT_ACTIVITY,
                RunEffectInput(event_id=event_id, handler=handler),
                result_type=RunEffectResult,
                start_to_close_timeout=EFFECT_ATTEMPT_LIMIT,
                retry_policy=EFFECT_RETRY,
            )
            return ""
        except ActivityError as exc:
            return f"{event_id} {handler}: {exc.cause or exc}"

    async def _send(self, event_id: str, request_id: str) -> str:
        """Send one event to the webhook (its own retries): "" or the failure."""
        try:
            event: WebhookEvent = await workflow.execute_activity(
                EFFECT_WEBHOOK_EVENT_ACTIVITY,
                EffectWebhookEventInput(event_id=event_id),
                result_type=WebhookEvent,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=LIST_RETRY,
            )
            result: DeliverWebhookResult = await workflow.execute_child_workflow(
                WEBHOOK_WORKFLOW,
                DeliverWebhookInput(event=event, request_id=request_id),
                id=f"webhook-delivery:{event.id}",
                result_type=DeliverWebhookResult,
                static_summary=f"{event.type} {request_id}",
            )
        except (ActivityError, ChildWorkflowError) as exc:
            return f"{event_id} webhook: {exc.cause or exc}"
        return "" if result.delivered else f"{event.id} webhook: {result.error}"
