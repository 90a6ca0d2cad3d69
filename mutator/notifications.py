"""Notifications: webhooks that follow the Standard Webhooks spec (docs/notifications.md).

A worker configured with a webhook (``WebhookConfig``: ``--webhook-url`` and
``MUTATOR_WEBHOOK_SECRET``) sends an event when a request becomes ``pending`` and when it
reaches a final status. Each event is one ``WebhookEvent``; its id is the ``webhook-id``
header, the same on every attempt, so a receiver deduplicates by it. Every attempt is
recorded as a ``Delivery``. Pure: no clock, no I/O (``activities/webhooks.py`` sends).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from standardwebhooks.webhooks import Webhook

from mutator.errors import MutatorInputError

WEBHOOK_URL_ENV = "MUTATOR_WEBHOOK_URL"
WEBHOOK_SECRET_ENV = "MUTATOR_WEBHOOK_SECRET"
WEBHOOK_URL_OPTION = "--webhook-url"

# Event types. Other final statuses are sent as ``request.<status>``.
PENDING_EVENT = "request.pending"
EXECUTED_EVENT = "request.executed"
REJECTED_EVENT = "request.rejected"
EXPIRED_EVENT = "request.expired"
CANCELLED_EVENT = "request.cancelled"
FAILED_EVENT = "request.failed"
SUPERSEDED_EVENT = "request.superseded"

DELIVER_WEBHOOK_ACTIVITY = "mutator.deliver_webhook"
WEBHOOKS_CONFIGURED_ACTIVITY = "mutator.webhooks_configured"
WEBHOOK_WORKFLOW = "WebhookDelivery"
# Deliveries run on their own task queue, polled only by workers with a webhook.
WEBHOOK_QUEUE_SUFFIX = "-webhooks"
ERR_WEBHOOK_GAVE_UP = "WebhookGaveUp"
ERR_WEBHOOK_FAILED = "WebhookFailed"
ERR_WEBHOOK_NOT_CONFIGURED = "WebhookNotConfigured"


class WebhookConfig(BaseModel):
    """Where a worker sends its events, the secret it signs them with, and how it retries.

    Build it with ``webhook_config`` (which checks the URL and the secret), and pass it to
    ``build_workers(..., webhook=...)`` or ``run_worker(..., webhook=...)``.

    Attributes:
        url: The receiver, ``http://`` or ``https://``.
        secret: The Standard Webhooks secret, ``whsec_`` and base64.
        max_attempts: Attempts per event before the delivery gives up.
        initial_retry_seconds: The wait after the first failed attempt; doubled after each.
        max_retry_seconds: The longest wait between attempts.
        timeout_seconds: How long one attempt waits for the receiver's answer.
        max_concurrent: Deliveries this worker process makes at once.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    secret: SecretStr
    max_attempts: int = Field(default=12, ge=1, le=100)
    initial_retry_seconds: float = Field(default=1.0, gt=0)
    max_retry_seconds: float = Field(default=600.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_concurrent: int = Field(default=10, ge=1)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential."""
        wait: float = self.initial_retry_seconds * 2.0 ** min(attempt - 1, 30)
        return min(wait, self.max_retry_seconds)

    def signer(self) -> Webhook:
        """The Standard Webhooks signer for this secret."""
        return Webhook(self.secret.get_secret_value())


def webhook_config(
    url: str | None, secret: str | None, *, option: str = WEBHOOK_URL_OPTION, **retries: Any
) -> WebhookConfig | None:
    """The webhook configuration from a URL and a secret; None without a URL.

    Args:
        url: The receiver's URL (``--webhook-url`` or ``MUTATOR_WEBHOOK_URL``).
        secret: The secret (``MUTATOR_WEBHOOK_SECRET``), ``whsec_`` and base64.
        option: How the URL was given, for the messages.
        **retries: ``WebhookConfig``'s other fields (attempts, waits, timeout).

    Raises:
        MutatorInputError: The URL is not http(s) with a host, the secret is missing or is
            not a Standard Webhooks secret; the message names the option.
    """
    if url is None or not url.strip():
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MutatorInputError(
            f"{option}: {redact_url(url)!r} is not an http(s) URL "
            "(give e.g. https://hooks.example.com/mutator)"
        )
    if secret is None or not secret.strip():
        raise MutatorInputError(
            f"{option} needs a signing secret: set {WEBHOOK_SECRET_ENV} (whsec_ and base64)"
        )
    secret = secret.strip()
    if not secret.startswith("whsec_"):
        raise MutatorInputError(
            f"{WEBHOOK_SECRET_ENV}: not a Standard Webhooks secret (it starts with whsec_)"
        )
    try:
        Webhook(secret)
    except Exception as exc:
        raise MutatorInputError(
            f"{WEBHOOK_SECRET_ENV}: not a Standard Webhooks secret (whsec_ and base64): {exc}"
        ) from None
    try:
        return WebhookConfig(url=url.strip(), secret=SecretStr(secret), **retries)
    except ValueError as exc:
        raise MutatorInputError(f"webhook settings: {exc}") from None


def redact_url(url: str) -> str:
    """``url`` without a password in it (``user:***@host``), as it is shown and stored."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class WebhookEvent(BaseModel):
    """One event, as sent: the body is ``{"type", "timestamp", "data"}``.

    Attributes:
        id: The event's id, the ``webhook-id`` header: the same on every attempt.
        type: ``request.pending``, ``request.executed``, ``request.rejected``, ...
        timestamp: When it happened (the request's workflow time).
        data: The request, as the event describes it (docs/notifications.md).
    """

    id: str = Field(min_length=1, max_length=220)
    type: str = Field(min_length=1, max_length=100)
    timestamp: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The JSON body that is signed and sent."""
        return json.dumps(
            {"type": self.type, "timestamp": self.timestamp.isoformat(), "data": self.data},
            separators=(",", ":"),
            sort_keys=True,
            default=str,
        )


class DeliverWebhookInput(BaseModel):
    """Input of the ``WebhookDelivery`` workflow and the ``mutator.deliver_webhook`` activity."""

    event: WebhookEvent
    request_id: str


class DeliverWebhookResult(BaseModel):
    """How a delivery ended: delivered (with the receiver's HTTP status) or given up."""

    delivered: bool
    attempts: int = 0
    status_code: int | None = None
    error: str = ""


class WebhooksConfiguredInput(BaseModel):
    """Input of ``mutator.webhooks_configured``: which request asks."""

    request_id: str


class WebhooksConfiguredResult(BaseModel):
    """Whether the worker that answered has a webhook configured."""

    configured: bool


class Delivery(BaseModel):
    """One recorded attempt to deliver an event.

    Attributes:
        event_id: The event's id (``webhook-id``).
        event_type: The event's type.
        request_id: The request the event is about.
        url: Where it was sent (a password in it hidden).
        attempt: The attempt's number, from 1.
        status_code: The receiver's HTTP status; None when no answer came.
        error: Why the attempt failed (empty when delivered).
        delivered: Whether the receiver answered 2xx.
        at: When the attempt was made.
    """

    event_id: str
    event_type: str
    request_id: str
    url: str
    attempt: int
    status_code: int | None = None
    error: str = ""
    delivered: bool = False
    at: datetime
