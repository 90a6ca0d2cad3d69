"""Side effects after commit: starting their delivery, listing them, running their handlers.

``start_effects_delivery`` is called by the execution activities once a change is stored:
for changes whose mutations can emit events (``Mutation.emits``) it looks in the outbox
and, when there are events, starts an ``EffectsDelivery`` workflow (its id is the first
change's, so a retried execution starts it once). A mutation that emits nothing costs
nothing: no query, no workflow. ``EffectActivities`` are that workflow's activities:
``mutator.effect_events`` lists the events and their targets, ``mutator.run_effect`` runs
one ``@app.effect`` handler on one event and records the attempt; a handler that raises is
retried with backoff by the workflow's retry policy, and never undoes the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    ApplicationErrorCategory,
    WorkflowAlreadyStartedError,
)

from mutator.app import MutationApp
from mutator.contracts import EXECUTION_QUEUE_SUFFIX
from mutator.effects import (
    EFFECT_EVENTS_ACTIVITY,
    EFFECT_WEBHOOK_EVENT_ACTIVITY,
    EFFECTS_WORKFLOW,
    ERR_EFFECT_FAILED,
    ERR_EFFECT_UNKNOWN,
    RUN_EFFECT_ACTIVITY,
    EffectAttempt,
    EffectEvent,
    EffectEventsInput,
    EffectEventsResult,
    EffectsDeliveryInput,
    EffectTarget,
    EffectWebhookEventInput,
    RunEffectInput,
    RunEffectResult,
    change_key,
)
from mutator.models import MutationRequest
from mutator.notifications import WebhookEvent
from mutator.store import Store

LOGGER = logging.getLogger("mutator.effects")
MAX_ERROR_CHARS = 500
# Attempts per handler and event before it is given up (each waits twice as long as the
# one before, from 1 s to at most 10 minutes: about 2 hours in all).
EFFECT_MAX_ATTEMPTS = 20


def effects_workflow_id(change_key: str) -> str:
    """The id of the ``EffectsDelivery`` of the execution whose first change is this one."""
    return f"effects:{change_key}"


def may_emit(app: MutationApp, mutations: Sequence[str]) -> bool:
    """Whether any of ``mutations`` takes ``effects``."""
    return any(name in app.mutations and app.mutations[name].emits for name in mutations)


async def start_effects_delivery(
    app: MutationApp, store: Store, request_id: str, changes: Sequence[tuple[str, str]]
) -> None:
    """Start the delivery of the events these changes stored, if any (after their commit).

    ``changes``: (change key, mutation) of each change the execution stored: the request's
    own (key: the request id), or its batch items' (``<request id>#<item>``). Called from
    an execution activity once the changes are stored, on every attempt that reports them
    (a retry after a crash between the commit and this call starts it then).

    Raises:
        RPCError: Temporal did not answer: the activity is retried, and starts it then.
    """
    if not changes or not may_emit(app, [mutation for _, mutation in changes]):
        return
    keys = [key for key, _ in changes]
    stored = await asyncio.to_thread(store.outbox.event_ids, request_id)
    if not any(change_key(event_id) in keys for event_id in stored):
        return
    task_queue = activity.info().task_queue.removesuffix(EXECUTION_QUEUE_SUFFIX)
    # An earlier attempt may have started it: each change's events are delivered once.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await activity.client().start_workflow(
            EFFECTS_WORKFLOW,
            EffectsDeliveryInput(request_id=request_id, keys=keys),
            id=effects_workflow_id(keys[0]),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"side effects of {request_id}",
        )


async def deliver_request_effects(app: MutationApp, store: Store, request: MutationRequest) -> None:
    """``start_effects_delivery`` for a single request's change."""
    await start_effects_delivery(
        app, store, request.request_id, [(request.request_id, request.mutation)]
    )


def webhook_event(event: EffectEvent) -> WebhookEvent:
    """The webhook event of a side effect: type ``effect.<type>``, id the event's id."""
    return WebhookEvent(
        id=event.event_id,
        type=f"effect.{event.type}",
        timestamp=event.created_at,
        data={
            "event_id": event.event_id,
            "type": event.type,
            "payload": event.payload,
            "request_id": event.request_id,
            "state_id": event.state_id,
            "version": event.version,
        },
    )


class EffectActivities:
    """The ``EffectsDelivery`` workflow's activities, running ``app``'s effect handlers."""

    def __init__(self, app: MutationApp, store: Store, *, webhooks: bool) -> None:
        """Run ``app``'s handlers, record in ``store``; ``webhooks``: the worker has one."""
        self.app = app
        self.store = store
        self.webhooks = webhooks

    @activity.defn(name=EFFECT_EVENTS_ACTIVITY)
    def events(self, input: EffectEventsInput) -> EffectEventsResult:
        """The request's events, each with its handlers; and its webhook events, if any."""
        found = [
            e
            for e in self.store.outbox.events(request_id=input.request_id)
            if change_key(e.event_id) in input.keys
        ]
        return EffectEventsResult(
            targets=[
                EffectTarget(
                    event_id=e.event_id,
                    type=e.type,
                    handlers=self.app.effect_handlers.names(e.type),
                )
                for e in found
            ],
            webhook=self.webhooks,
        )

    @activity.defn(name=EFFECT_WEBHOOK_EVENT_ACTIVITY)
    def webhook_event(self, input: EffectWebhookEventInput) -> WebhookEvent:
        """The webhook event of one event in the outbox, read from the store."""
        event = self.store.outbox.event(input.event_id)
        if event is None:
            raise ApplicationError(
                f"event {input.event_id!r} is not in the outbox",
                type=ERR_EFFECT_UNKNOWN,
                non_retryable=True,
            )
        return webhook_event(event)

    @activity.defn(name=RUN_EFFECT_ACTIVITY)
    async def run(self, input: RunEffectInput) -> RunEffectResult:
        """One attempt: run the handler on the event, record it; raises to be retried."""
        attempt = activity.info().attempt
        event = await asyncio.to_thread(self.store.outbox.event, input.event_id)
        if event is None:
            raise ApplicationError(
                f"event {input.event_id!r} is not in the outbox",
                type=ERR_EFFECT_UNKNOWN,
                non_retryable=True,
            )
        fn = self.app.effect_handlers.get(event.type, input.handler)
        error = ""
        if fn is None:
            error = f"this worker has no effect handler {input.handler} for {event.type!r}"
        else:
            try:
                if inspect.iscoroutinefunction(fn):
                    await fn(event)
                else:
                    await asyncio.to_thread(fn, event)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS] or type(exc).__name__
        await asyncio.to_thread(
            self.store.outbox.record_attempt,
            EffectAttempt(
                event_id=event.event_id,
                handler=input.handler,
                attempt=attempt,
                delivered=not error,
                error=error,
                at=datetime.now(UTC),
            ),
        )
        if not error:
            return RunEffectResult(attempts=attempt)
        final = fn is None or attempt >= EFFECT_MAX_ATTEMPTS
        if final:
            LOGGER.warning("effect %s by %s gave up: %s", event.event_id, input.handler, error)
        else:
            activity.logger.info("effect %s attempt %d failed: %s", event.event_id, attempt, error)
        raise ApplicationError(
            f"attempt {attempt}: {error}",
            type=ERR_EFFECT_UNKNOWN if fn is None else ERR_EFFECT_FAILED,
            non_retryable=final,
            category=ApplicationErrorCategory.BENIGN,
        )

    def all(self) -> list[Callable[..., Any]]:
        """The activities, on the main task queue."""
        return [self.events, self.run, self.webhook_event]
