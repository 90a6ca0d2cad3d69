"""Sending webhook events: one signed POST per attempt, each attempt recorded in the store.

``mutator.deliver_webhook`` runs on ``<task queue>-webhooks``, polled only by workers with a
webhook (``WebhookConfig``). It signs the event with the ``standardwebhooks`` package
(headers ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), POSTs it, records
the attempt, and either returns (2xx) or raises: retried after an exponential wait
(``next_retry_delay``), or given up after ``max_attempts``. Redirects are not followed (a
3xx is a failed attempt), as the Standard Webhooks spec asks.
``mutator.webhooks_configured`` (a local activity) tells a request workflow that could not
learn it from its evaluation whether its worker has a webhook.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from mutator.notifications import (
    DELIVER_WEBHOOK_ACTIVITY,
    ERR_WEBHOOK_FAILED,
    ERR_WEBHOOK_GAVE_UP,
    ERR_WEBHOOK_NOT_CONFIGURED,
    WEBHOOKS_CONFIGURED_ACTIVITY,
    DeliverWebhookInput,
    DeliverWebhookResult,
    Delivery,
    WebhookConfig,
    WebhooksConfiguredInput,
    WebhooksConfiguredResult,
    redact_url,
)
from mutator.store import Store

LOGGER = logging.getLogger("mutator.webhooks")
MAX_ERROR_CHARS = 500


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not a place to resend the event to."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(config: WebhookConfig, event_id: str, body: str, now: datetime) -> tuple[int | None, str]:
    """POST ``body`` signed for ``now``: (the HTTP status or None, the error or "")."""
    headers = {
        "content-type": "application/json",
        "user-agent": "mutator-webhooks",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": config.signer().sign(event_id, now, body),
    }
    request = urllib.request.Request(config.url, data=body.encode(), headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=config.timeout_seconds) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:MAX_ERROR_CHARS]
    except urllib.error.URLError as exc:
        return None, str(exc.reason)[:MAX_ERROR_CHARS]
    except OSError as exc:  # a timeout, a reset connection
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    if 200 <= status < 300:
        return status, ""
    return status, f"HTTP {status}"


class WebhookActivities:
    """Deliveries with ``config`` (None: this worker has no webhook), recorded in ``store``."""

    def __init__(self, config: WebhookConfig | None, store: Store) -> None:
        """Send with ``config``, record in ``store``."""
        self.config = config
        self.store = store

    @activity.defn(name=DELIVER_WEBHOOK_ACTIVITY)
    def deliver(self, input: DeliverWebhookInput) -> DeliverWebhookResult:
        """One attempt: sign, POST, record; raises to be retried, or when it gives up."""
        attempt = activity.info().attempt
        event = input.event
        now = datetime.now(UTC)
        if self.config is None:
            status: int | None = None
            error = "this worker has no webhook configured (--webhook-url)"
            url = ""
        else:
            url = redact_url(self.config.url)
            status, error = post(self.config, event.id, event.body(), now)
        self.store.deliveries.record(
            Delivery(
                event_id=event.id,
                event_type=event.type,
                request_id=input.request_id,
                url=url,
                attempt=attempt,
                status_code=status,
                error=error,
                delivered=not error,
                at=now,
            )
        )
        if not error:
            return DeliverWebhookResult(delivered=True, attempts=attempt, status_code=status)
        return self._failed(attempt, event.id, error)

    def _failed(self, attempt: int, event_id: str, error: str) -> DeliverWebhookResult:
        config = self.config
        if config is None:
            raise ApplicationError(error, type=ERR_WEBHOOK_NOT_CONFIGURED, non_retryable=True)
        if attempt >= config.max_attempts:
            LOGGER.warning("webhook %s not delivered, gave up after %d attempts", event_id, attempt)
            raise ApplicationError(
                f"gave up after {attempt} attempts: {error}",
                type=ERR_WEBHOOK_GAVE_UP,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        raise ApplicationError(
            f"attempt {attempt}: {error}",
            type=ERR_WEBHOOK_FAILED,
            next_retry_delay=timedelta(seconds=config.retry_delay(attempt)),
            category=ApplicationErrorCategory.BENIGN,
        )

    @activity.defn(name=WEBHOOKS_CONFIGURED_ACTIVITY)
    def configured(self, input: WebhooksConfiguredInput) -> WebhooksConfiguredResult:
        """Whether this worker has a webhook (asked only by a request never evaluated)."""
        return WebhooksConfiguredResult(configured=self.config is not None)
