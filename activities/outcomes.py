"""Changes built from a user's handler, and the errors activities answer with.

Expected outcomes (a stale version, a fenced-out change, a validation refusal, an unknown
mutation) are not bugs: they are logged as one line at info level, and raised with the
BENIGN category, which keeps the SDK's activity worker from logging them with a traceback.
A handler or policy that raises is the user's bug: one warning line with the error. Other
exceptions keep the SDK's traceback: those are Mutator's (or the infrastructure's) bugs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory, CancelledError

from mutator.app import Mutation
from mutator.effects import Effects, EmittedEvent

StateData = dict[str, Any]


class HandlerFailed(Exception):
    """The user's mutation handler raised or returned something that is not a JSON object."""


class HandlerChange:
    """Validators, then the handler, on the state the change applies to.

    Called as ``change(data) -> new data`` (by the store, possibly more than once when a
    compare-and-set is lost); ``events()`` are what its last run emitted, which the store
    writes to the outbox with the change.
    """

    def __init__(self, mutation: Mutation, payload: dict[str, Any]) -> None:
        """The change ``mutation`` makes with ``payload``."""
        self.mutation = mutation
        self.payload = payload
        self._effects: Effects | None = None

    def __call__(self, data: StateData) -> StateData:
        """The new state from ``data``; raises ValidationRefused or HandlerFailed."""
        mutation = self.mutation
        mutation.validate(data, self.payload)
        try:
            if mutation.emits:
                # A run's events replace the previous run's: only the run that commits counts.
                self._effects = Effects(mutation.name)
                new = mutation.handler(data, self.payload, self._effects)
            else:
                new = mutation.handler(data, self.payload)
        except CancelledError:
            raise  # the worker is shutting down or the activity was canceled: not a failure
        except Exception as exc:
            raise HandlerFailed(f"{mutation.name} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(new, dict):
            raise HandlerFailed(
                f"{mutation.name} returned {type(new).__name__}, expected a dict (the new state)"
            )
        try:
            json.dumps(new)
        except (TypeError, ValueError) as exc:
            raise HandlerFailed(
                f"{mutation.name} returned a state that is not JSON: {exc}"
            ) from exc
        return new

    def events(self) -> list[EmittedEvent]:
        """The events the last run emitted."""
        return self._effects.events if self._effects is not None else []

    def emitted(self) -> Callable[[], list[EmittedEvent]] | None:
        """``events``, for a mutation whose handler takes effects; None for the others."""
        return self.events if self.mutation.emits else None


def change_for(mutation: Mutation, payload: dict[str, Any]) -> HandlerChange:
    """Validators, then the handler, on the state the change applies to."""
    return HandlerChange(mutation, payload)


def expected(message: str, *details: Any, type: str) -> ApplicationError:
    """A final, expected outcome of the request (not a failure of Mutator): one info line."""
    return _final(logging.INFO, message, details, type)


def users_bug(message: str, *details: Any, type: str) -> ApplicationError:
    """The user's handler or policy failed: one warning line, no traceback."""
    return _final(logging.WARNING, message, details, type)


def log_outcome(level: int, message: str, type: str) -> None:
    """The one line an outcome gets in the worker's log."""
    if activity.in_activity():
        activity.logger.log(level, "%s: %s", type, message)


def _final(level: int, message: str, details: tuple[Any, ...], type: str) -> ApplicationError:
    log_outcome(level, message, type)
    return ApplicationError(
        message,
        *details,
        type=type,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )
