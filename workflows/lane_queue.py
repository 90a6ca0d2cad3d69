"""What a state lane shows and carries of its queue, and an owner's withdrawal from it.

Pure helpers of ``state_lane.py`` (deterministic, no I/O): the queue without its
executions (for queries and continue-as-new), the lane's current details, and the answer
to a ``withdraw``.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mutator.lane_contracts import LaneEntry, LaneHolder, LaneOutcome

SHOWN_WAITING = 20


def without_executions(queue: list[LaneEntry]) -> list[LaneEntry]:
    """The queue's entries without their executions (each up to a full payload)."""
    return [entry.model_copy(update={"execution": None}) for entry in queue]


def withdraw(queue: list[LaneEntry], owner: str, state_id: str) -> LaneOutcome:
    """Remove ``owner``'s queued entry, if still queued; the answer to send it.

    ``withdrawn``: it was queued and is gone, nothing of it runs. ``too_late``: it is not
    queued (its turn came, or it ended): its execution's outcome follows as usual.
    """
    queued = next((entry for entry in queue if entry.owner == owner), None)
    if queued is not None:
        queue.remove(queued)
    answer = "withdrawn" if queued is not None else "too_late"
    return LaneOutcome(state_id=state_id, token=0, withdrawal=answer)


def details(
    state_id: str, holder: LaneHolder | None, queue: list[LaneEntry], grants: int, expired: int
) -> str:
    """The lane's current details in the UI: holder, who waits, counters."""
    held = (
        f"held by {holder.request_id} (token {holder.token}, lease until "
        f"{holder.expires_at.isoformat(timespec='seconds')})"
        if holder
        else "free"
    )
    # The details are shown as they are: a long queue is summed up, not listed.
    waiting = ", ".join(e.request_id for e in queue[:SHOWN_WAITING]) or "none"
    if len(queue) > SHOWN_WAITING:
        waiting += f" and {len(queue) - SHOWN_WAITING} more"
    return (
        f"**{state_id}**: {held}\n\nwaiting: {waiting}\n\ngrants {grants}, expired leases {expired}"
    )
