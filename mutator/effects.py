"""Side effects: events a mutation's handler emits, kept in an outbox, delivered after commit.

A handler that declares a third parameter (``fn(state, payload, effects)``) receives an
``Effects`` and calls ``effects.emit(type, payload)``. The events are written to the store's
outbox in the transaction that writes the new state: a change that does not commit leaves
none. After the commit they are delivered, at least once, to the worker's
``@app.effect(type)`` handlers and to its webhook (docs/changes.md#side-effects). Pure: no
clock, no I/O.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from mutator.notifications import Delivery

# A type names what happened, like ``invoice.sent``: a letter, then letters, digits, ``.``,
# ``_``, ``-`` or ``:``. At most 90 characters: the webhook sends it as ``effect.<type>``,
# within a webhook event type's 100.
EFFECT_TYPE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,89}")
# What one change may emit: bounded, as the outbox row and the delivery carry the payload.
MAX_EVENTS_PER_CHANGE = 100
MAX_EVENT_PAYLOAD_BYTES = 64 * 1024


def check_effect_type(type: object) -> str:
    """``type`` if it is a valid event type.

    Raises:
        ValueError: It is not a string matching ``EFFECT_TYPE_PATTERN`` (1 to 90
            characters, starting with a letter); the message says so.
    """
    if not isinstance(type, str) or EFFECT_TYPE_PATTERN.fullmatch(type) is None:
        raise ValueError(
            f"effect type {type!r} is not valid: 1 to 90 characters, a letter first, then "
            "letters, digits, '.', '_', '-' or ':' (e.g. 'invoice.sent')"
        )
    return type


@dataclass(frozen=True)
class EmittedEvent:
    """An event as a handler emitted it: its type and its JSON payload (a copy)."""

    type: str
    payload: dict[str, Any]


class Effects:
    """What a handler receives as its third argument: ``effects.emit(type, payload)``.

    Events are kept in the order emitted; they are stored only if the change commits.
    """

    def __init__(self, mutation: str) -> None:
        """Collect the events of one run of ``mutation``'s handler."""
        self.mutation = mutation
        self.events: list[EmittedEvent] = []

    def emit(self, type: str, payload: dict[str, Any] | None = None) -> None:
        """Emit the event ``type`` with ``payload``, to be delivered once the change commits.

        The payload is copied now (as JSON): changing the dict afterwards changes nothing.

        Raises:
            ValueError: ``type`` is not a valid type, ``payload`` is not a JSON object or is
                over 64 KiB, or the handler emitted 100 events already. Raised in the
                handler, it fails the request: its change is not applied.
        """
        check_effect_type(type)
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise ValueError(f"effect {type!r}: the payload must be a dict, got {_kind(payload)}")
        try:
            text = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"effect {type!r}: the payload is not JSON: {exc}") from None
        if len(text.encode()) > MAX_EVENT_PAYLOAD_BYTES:
            raise ValueError(
                f"effect {type!r}: the payload is {len(text.encode())} bytes of JSON, "
                f"over the limit of {MAX_EVENT_PAYLOAD_BYTES}"
            )
        if len(self.events) >= MAX_EVENTS_PER_CHANGE:
            raise ValueError(
                f"effect {type!r}: a change emits at most {MAX_EVENTS_PER_CHANGE} events"
            )
        self.events.append(EmittedEvent(type=type, payload=json.loads(text)))


def _kind(value: object) -> str:
    return type(value).__name__


def takes_effects(fn: Callable[..., Any]) -> bool:
    """Whether a handler takes ``effects``: a third positional parameter.

    Plain ``(state, payload)`` handlers do not, and are called as before.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    varargs = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    return len(positional) >= 3 or varargs


def change_key(event_id: str) -> str:
    """The key of the change that emitted the event ``event_id``."""
    return event_id.rpartition(":")[0]


def event_id(change_key: str, index: int) -> str:
    """The stable id of the ``index``-th event of the change ``change_key``.

    ``change_key`` is the request id, or ``<request id>#<item>`` for a batch item: the same
    on every retry of the change, and the same on every delivery attempt.
    """
    return f"{change_key}:{index}"


class EffectEvent(BaseModel):
    """One event in the outbox, as ``@app.effect`` handlers receive it.

    Attributes:
        event_id: Its stable id, ``<request id>:<n>`` (``<request id>#<item>:<n>`` in a
            batch): the same on every delivery; deduplicate by it.
        type: What happened, as the handler named it.
        payload: The JSON object the handler gave.
        request_id: The request whose change emitted it.
        state_id: The state the change applied to.
        version: The state's version the change made.
        created_at: When the change committed.
    """

    event_id: str
    type: str
    payload: dict[str, Any]
    request_id: str
    state_id: str
    version: int
    created_at: datetime


class EffectAttempt(BaseModel):
    """One recorded attempt to run an ``@app.effect`` handler on an event.

    Attributes:
        event_id: The event.
        handler: The handler's name (``module.function``).
        attempt: The attempt's number, from 1.
        delivered: Whether the handler returned without raising.
        error: What it raised (empty when delivered).
        at: When the attempt ended.
    """

    event_id: str
    handler: str
    attempt: int
    delivered: bool
    error: str = ""
    at: datetime


class EffectRecord(BaseModel):
    """An event and what became of it: each handler attempt and each webhook attempt.

    Attributes:
        event: The event, as stored in the outbox.
        attempts: Each attempt to run an ``@app.effect`` handler on it, oldest first.
        webhook: Each attempt to send it to the webhook, oldest first.
    """

    event: EffectEvent
    attempts: list[EffectAttempt] = []
    webhook: list[Delivery] = []


EffectHandler = Callable[[EffectEvent], None] | Callable[[EffectEvent], Awaitable[None]]


def handler_name(fn: Callable[..., Any]) -> str:
    """The name a handler's attempts are recorded under: ``module.qualname``."""
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


class EffectHandlers:
    """The ``@app.effect(type)`` handlers of an app, by event type."""

    def __init__(self) -> None:
        """No handlers yet."""
        self.by_type: dict[str, dict[str, EffectHandler]] = {}

    def register(self, type: str) -> Callable[[EffectHandler], EffectHandler]:
        """A decorator registering ``fn(event: EffectEvent)`` for events of ``type``.

        Raises:
            ValueError: ``type`` is not a valid type; the same function registered twice for
                it.
        """
        check_effect_type(type)

        def register(fn: EffectHandler) -> EffectHandler:
            if not callable(fn):
                raise ValueError(f"@app.effect({type!r}) decorates a function, got {_kind(fn)}")
            name = handler_name(fn)
            handlers = self.by_type.setdefault(type, {})
            if name in handlers:
                raise ValueError(f"effect handler {name} is registered twice for {type!r}")
            handlers[name] = fn
            return fn

        return register

    def names(self, type: str) -> list[str]:
        """The names of the handlers of ``type``, in registration order."""
        return list(self.by_type.get(type, {}))

    def get(self, type: str, name: str) -> EffectHandler | None:
        """The handler ``name`` of ``type``; None if this worker has none by that name."""
        return self.by_type.get(type, {}).get(name)


# Workflow, activity and queue names, and the models they exchange.
EFFECTS_WORKFLOW = "EffectsDelivery"
EFFECT_EVENTS_ACTIVITY = "mutator.effect_events"
RUN_EFFECT_ACTIVITY = "mutator.run_effect"
EFFECT_WEBHOOK_EVENT_ACTIVITY = "mutator.effect_webhook_event"
ERR_EFFECT_FAILED = "EffectFailed"
ERR_EFFECT_UNKNOWN = "EffectUnknown"


class EffectsDeliveryInput(BaseModel):
    """Input of the ``EffectsDelivery`` workflow: the changes whose events to deliver.

    ``keys``: the request id, or its batch items' ``<request id>#<item>`` that one
    execution stored.
    """

    request_id: str = Field(min_length=1)
    keys: list[str] = Field(min_length=1)


class EffectTarget(BaseModel):
    """An event and where it goes: the names of its handlers; the webhook's type, if any."""

    event_id: str
    type: str
    handlers: list[str]


class EffectEventsInput(BaseModel):
    """Input of ``mutator.effect_events``: the request, and its changes to list."""

    request_id: str
    keys: list[str]


class EffectEventsResult(BaseModel):
    """The events and their handlers, and whether the worker has a webhook to send them to.

    Ids only: each payload is read by the activity that delivers it, so that 100 events of
    64 KiB never travel in one result.
    """

    targets: list[EffectTarget]
    webhook: bool = False


class EffectWebhookEventInput(BaseModel):
    """Input of ``mutator.effect_webhook_event``: the event to send."""

    event_id: str


class RunEffectInput(BaseModel):
    """Input of ``mutator.run_effect``: run handler ``handler`` on event ``event_id``."""

    event_id: str
    handler: str


class RunEffectResult(BaseModel):
    """The handler returned on attempt ``attempts``."""

    attempts: int


class EffectsDeliveryResult(BaseModel):
    """How the deliveries ended: handler runs and webhook events delivered, and those not."""

    delivered: int = 0
    failed: list[str] = []  # "<event id> <handler or webhook>: <error>"
