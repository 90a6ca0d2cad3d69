"""The schedule gate: an approved request whose change window is closed, or that is frozen.

Its execution checks the schedule (``mutator.schedule.schedule_status``) under the state's
claim or lane turn; closed, nothing is applied and the request goes back to ``pending``
(reason ``schedule``) with one ``schedule`` gate and ``scheduled_for`` set to the schedule's
next open time. At that time, or sooner when the schedule changes (``freeze end``), it
becomes ``approved`` again (``schedule_open``) and executes, checking the schedule again.
A schedule that never opens again (a window without further occurrences) rejects it
(``schedule_closed``).
"""

from __future__ import annotations

from datetime import datetime

from mutator.decisions import DecisionCode, SystemActor
from mutator.gates import Gate, GateKind, GateStatus, with_kind
from mutator.lifecycle.machine import Effect, Recorder
from mutator.models import (
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
)
from mutator.schedule.status import ScheduleBlock, ScheduleStatus


def _block_text(block: ScheduleBlock) -> str:
    what = f"{block.kind} {block.name}" if block.name else block.kind
    return f"{what} ({block.detail})"


def _gate_name(status: ScheduleStatus) -> str:
    names = [f"{b.kind} {b.name}" if b.name else b.kind for b in status.blocks]
    return ", ".join(names) or "schedule"


def schedule_gate(request: MutationRequest) -> Gate | None:
    """The request's schedule gate, if its execution ever found the schedule closed."""
    return next((g for g in request.gates if g.kind == GateKind.SCHEDULE), None)


def wait_for_schedule(recorder: Recorder, status: ScheduleStatus) -> None:
    """Record a closed schedule on ``recorder``'s request: ``pending`` until it opens.

    The caller has checked that the request is ``approved``; ``status`` is the closed
    schedule its execution found. Never opening again, the request is rejected instead.
    """
    request = recorder.request
    blocks = "; ".join(_block_text(b) for b in status.blocks)
    name = _gate_name(status)
    if status.next_open is None:
        request.gates = with_kind(
            request.gates,
            GateKind.SCHEDULE,
            [Gate(kind=GateKind.SCHEDULE, name=name, status=GateStatus.FAILED, detail=blocks)],
        )
        recorder.reject(RejectionCode.SCHEDULE_CLOSED, f"the schedule never opens again: {blocks}")
        return
    until = status.next_open.isoformat()
    request.scheduled_for = status.next_open
    request.gates = with_kind(
        request.gates,
        GateKind.SCHEDULE,
        [Gate(kind=GateKind.SCHEDULE, name=name, detail=f"until {until}: {blocks}")],
    )
    recorder.move(
        RequestStatus.PENDING,
        PendingReason.SCHEDULE,
        DecisionCode.PENDING,
        SystemActor.SYSTEM,
        f"waits until {until}: {blocks}",
    )


def schedule_closed(request: MutationRequest, status: ScheduleStatus, now: datetime) -> Effect:
    """A batch found its schedule closed before it executes: ``pending`` until it opens.

    A single request learns it from its execution (``execution_refused``); a batch checks
    its items' schedule once all its lanes are held (atomic) or before its first item
    (sequential, independent), while still ``approved``.
    """
    recorder = Recorder(request, now)
    wait_for_schedule(recorder, status)
    return recorder.effect()


def schedule_open(request: MutationRequest, now: datetime, why: str) -> Effect:
    """The wait for the schedule ended (its time came, or ``why``): ``approved`` again.

    A request that no longer waits for its schedule (canceled meanwhile) is left as it is.
    Its execution checks the schedule again: still closed, it waits again.
    """
    if not waiting_for_schedule(request):
        return Effect()
    gate = schedule_gate(request)
    name = gate.name if gate is not None else "schedule"
    request.gates = with_kind(
        request.gates,
        GateKind.SCHEDULE,
        [Gate(kind=GateKind.SCHEDULE, name=name, status=GateStatus.PASSED, detail=why)],
    )
    request.scheduled_for = None
    recorder = Recorder(request, now)
    recorder.move(RequestStatus.APPROVED, None, DecisionCode.SCHEDULE_OPEN, SystemActor.SYSTEM, why)
    return recorder.effect()


def waiting_for_schedule(request: MutationRequest) -> bool:
    """Whether the request is ``pending`` for its schedule."""
    return (
        request.status == RequestStatus.PENDING and request.pending_reason == PendingReason.SCHEDULE
    )
