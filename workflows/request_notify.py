"""The request's notifications: an event when it becomes ``pending`` and when it ends.

``notify`` is the one function that sends an event; ``notify_change`` sends the event the
request's status is, once per change of (status, pending reason). Each event starts an
abandoned child workflow (``WebhookDelivery``) and returns as soon as it started: the
request never waits for a delivery, and completes while one still retries.

Whether the worker has a webhook is learned deterministically, from an activity's result
that is in the history anyway: the evaluation's (``EvaluateResult.webhooks``) or the
submit's signature check's (``VerifyVoteResult.webhooks``, for requests with dependencies).
A request without a webhook sends nothing and runs nothing more: no activity, no child,
no marker. Only a request that ends before any evaluation answered (its policies failed)
asks once, with the ``mutator.webhooks_configured`` local activity. New in this version
(``workflow.patched("webhooks")``, asked only when an event is to be sent): histories
from before it replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator.lifecycle.notifications import (
        NotifiedKey,
        event_type,
        notified_key,
        request_event_data,
    )
    from mutator.notifications import (
        WEBHOOK_WORKFLOW,
        WEBHOOKS_CONFIGURED_ACTIVITY,
        DeliverWebhookInput,
        WebhookEvent,
        WebhooksConfiguredInput,
        WebhooksConfiguredResult,
    )

NOTIFY_PATCH = "webhooks"


class RequestNotify(RequestRecord):
    """Sends the request's events to the worker's webhook, if it has one."""

    webhooks: bool | None  # whether the worker has a webhook; None: not known yet
    notified: NotifiedKey | None  # (status, pending reason) when last looked at

    def learn_webhooks(self, configured: bool) -> None:
        """Note what an activity answered: whether its worker has a webhook."""
        self.webhooks = configured

    async def notify_change(self) -> None:
        """Send ``request.pending`` or the final status's event if the status changed since.

        Called where the request was just saved (so a receiver reading the store sees what
        the event says): before each wait, and once it has ended.
        """
        key = notified_key(self.request)
        if key == self.notified:
            return
        self.notified = key
        kind = event_type(self.request)
        if kind is not None:
            await self.notify(kind)

    async def notify(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Send the event ``kind`` about the request as it stands, if there is a webhook.

        Args:
            kind: The event's type, e.g. ``request.pending`` or ``request.break_glass``.
            data: Fields added to the request's own (``request_event_data``).
        """
        if not await self._has_webhook():
            return
        event = WebhookEvent(
            id=f"evt_{workflow.uuid4().hex}",
            type=kind,
            timestamp=workflow.now(),
            data=request_event_data(self.request) | (data or {}),
        )
        await workflow.start_child_workflow(
            WEBHOOK_WORKFLOW,
            DeliverWebhookInput(event=event, request_id=self.request.request_id),
            id=f"webhook-delivery:{event.id}",
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"{kind} {self.request.request_id}",
        )

    async def _has_webhook(self) -> bool:
        if self.webhooks is False:
            return False
        if not workflow.patched(NOTIFY_PATCH):
            return False
        if self.webhooks is None:
            asked: WebhooksConfiguredResult = await workflow.execute_local_activity(
                WEBHOOKS_CONFIGURED_ACTIVITY,
                WebhooksConfiguredInput(request_id=self.request.request_id),
                result_type=WebhooksConfiguredResult,
                start_to_close_timeout=timedelta(seconds=10),
            )
            self.webhooks = asked.configured
        return self.webhooks
