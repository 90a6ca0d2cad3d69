"""Ending a freeze from the client: the store's row, then the requests it held back.

``freeze end`` writes the freeze's end (``mutator.store.freezes``) and signals
``schedule_changed`` to each request ``pending`` (schedule) that the freeze covered, so it
executes at once rather than at the freeze's ``until`` (docs/gates.md). A request also
held back by something else (a closed window) finds the schedule closed again and waits.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from mutator.contracts import SCHEDULE_CHANGED_SIGNAL, ScheduleChanged
from mutator.errors import MutatorUnavailable
from mutator.ids import request_workflow_id
from mutator.models import PendingReason, RequestStatus
from mutator.schedule import Freeze
from mutator.store import Store

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


async def end_freeze(
    temporal: Client, store: Store, name: str, actor: str, now: datetime
) -> FreezeEnded:
    """End the active freeze ``name`` at ``now``, then wake the requests it held back.

    Raises:
        MutatorNotFound: No freeze of that name is active; nothing changes.
        MutatorUnavailable: Temporal cannot be reached (the freeze is ended: the requests
            it held back execute at their ``scheduled_for``).
    """
    ended = await asyncio.to_thread(store.freezes.end, name, actor, now)
    waiting = await asyncio.to_thread(
        store.list_requests,
        status=RequestStatus.PENDING.value,
        pending_reason=PendingReason.SCHEDULE.value,
        limit=MAX_WOKEN,
    )
    signal = ScheduleChanged(reason=f"freeze {name} ended by {actor}")
    woken = []
    for request in waiting:
        if request.items or not ended.covers(request.mutation, request.state_id):
            continue
        handle = temporal.get_workflow_handle(request_workflow_id(request.request_id))
        try:
            await handle.signal(SCHEDULE_CHANGED_SIGNAL, signal)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                continue  # it ended meanwhile
            raise MutatorUnavailable(
                f"freeze {name} is ended, but Temporal refused to wake {request.request_id}: "
                f"{exc}; it executes at its scheduled time"
            ) from exc
        woken.append(request.request_id)
    return FreezeEnded(freeze=ended, woken=woken)
