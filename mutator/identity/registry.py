"""Each worker's identity settings, by task queue, for the request workflow's update validators.

Update validators run only when an update arrives, never on replay, so they may read this
worker-local configuration: a signed vote is checked against the directory the worker was
started with. Handlers, which replay, must not read it (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mutator.identity.directory import Directory
from mutator.identity.verify import DEFAULT_TOLERANCE
from mutator.models import IdentityMode


@dataclass(frozen=True)
class IdentityConfig:
    """How a worker's app proves identity.

    Attributes:
        mode: ``signed`` or ``claimed``.
        directory: The users, roles and keys the worker runs with.
        tolerance: How far a signed envelope's ``issued_at`` may be from the worker's clock.
    """

    mode: IdentityMode
    directory: Directory
    tolerance: timedelta = DEFAULT_TOLERANCE


_BY_TASK_QUEUE: dict[str, IdentityConfig] = {}


def register(task_queue: str, config: IdentityConfig) -> None:
    """Record the identity settings of the worker polling ``task_queue`` (replaces any)."""
    _BY_TASK_QUEUE[task_queue] = config


def lookup(task_queue: str) -> IdentityConfig | None:
    """The identity settings registered for ``task_queue`` in this process, if any."""
    return _BY_TASK_QUEUE.get(task_queue)


def unregister(task_queue: str) -> None:
    """Forget ``task_queue``'s settings (a worker that stopped)."""
    _BY_TASK_QUEUE.pop(task_queue, None)
