"""Ending a freeze from the client: the store's row, then the requests it held back.

``freeze end`` writes the freeze's end (``mutator.store.freezes``) and signals
``schedule_changed`` to each request ``pending`` (schedule) that the freeze covered, so it
executes at once rather than at the freeze's ``until`` (docs/gates.md). A request also
held back by something else (a closed window) finds the schedule closed again and waits.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mutator.contracts import SCHEDULE_CHANGED_SIGNAL, ScheduleChanged
from mutator.errors import MutatorUnavailable
from mutator.ids import request_workflow_id
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.schedule import Freeze
from mutator.store import Store

if TYPE_CHECKING:
    from temporalio.client import Client

# The most waiting requests one `freeze end` looks at (newest first).
MAX_WOKEN = 10_000


class FreezeEnded(BaseModel):
    """What ``end_freeze`` did.

    Attributes:
        freeze: The freeze, as ended.
        woken: The requests waiting for their schedule that it covered, signalled to go on.
    """

    freeze: Freeze
    woken: list[str]


def end_and_find_waiting(
    store: Store, name: str, actor: str, now: datetime
) -> tuple[Freeze, list[str]]:
    """End the active freeze ``name`` at ``now``; the ids of the requests it held back.

    Those are the requests ``pending`` (schedule) whose mutation and state (a batch: one of
    its items') the freeze covers (newest first, at most ``MAX_WOKEN``).

    Raises:
        MutatorNotFound: No freeze of that name is active; nothing changes.
    """
    ended = store.freezes.end(name, actor, now)
    waiting = store.list_requests(
        status=RequestStatus.PENDING.value,
        pending_reason=PendingReason.SCHEDULE.value,
        limit=MAX_WOKEN,
    )
    covered = [r.request_id for r in waiting if _covered(ended, r)]
    return ended, covered


def _covered(freeze: Freeze, request: MutationRequest) -> bool:
    # A batch is held back by a freeze covering any of its items.
    changes = [(i.mutation, i.state_id) for i in request.items] or [
        (request.mutation, request.state_id)
    ]
    return any(freeze.covers(mutation, state_id) for mutation, state_id in changes)


async def wake_for_schedule(temporal: Client, request_ids: list[str], reason: str) -> list[str]:
    """Signal ``schedule_changed`` to each request; the ids of those still running.

    Raises:
        MutatorUnavailable: Temporal refused a signal (the requests not woken execute at
            their ``scheduled_for``).
    """
    # Imported here: `freeze end` with nothing to wake, like the reads, loads no Temporal SDK.
    from temporalio.service import RPCError, RPCStatusCode

    signal = ScheduleChanged(reason=reason)
    woken = []
    for request_id in request_ids:
        handle = temporal.get_workflow_handle(request_workflow_id(request_id))
        try:
            await handle.signal(SCHEDULE_CHANGED_SIGNAL, signal)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                continue  # it ended meanwhile
            raise MutatorUnavailable(
                f"Temporal refused to wake {request_id}: {exc}; it executes at its scheduled time"
            ) from exc
        woken.append(request_id)
    return woken


async def end_freeze(
    temporal: Client, store: Store, name: str, actor: str, now: datetime
) -> FreezeEnded:
    """End the active freeze ``name`` at ``now``, then wake the requests it held back.

    Raises:
        MutatorNotFound: No freeze of that name is active; nothing changes.
        MutatorUnavailable: Temporal refused a signal (the freeze is ended: the requests
            not woken execute at their ``scheduled_for``).
    """
    ended, waiting = await asyncio.to_thread(end_and_find_waiting, store, name, actor, now)
    woken = await wake_for_schedule(temporal, waiting, freeze_ended_reason(name, actor))
    return FreezeEnded(freeze=ended, woken=woken)


def freeze_ended_reason(name: str, actor: str) -> str:
    """What a request woken by ``freeze end`` records as why it executes again."""
    return f"freeze {name} ended by {actor}"
