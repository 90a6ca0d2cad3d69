"""The quota gate: an approved request whose mutation's quota was full when it executed.

Its execution takes a slot of the quota in the store, in the write's own transaction
(``mutator.store.quotas``), after the schedule check. Every slot taken, nothing is applied
and, by the quota's ``on_exceeded``: ``wait`` makes the request ``pending`` (reason
``quota``) with one ``quota`` gate and ``scheduled_for`` set to when the next slot frees;
at that time it becomes ``approved`` again (``quota_free``) and executes, taking a slot
again (and waiting again if another execution took it first). ``reject`` rejects it
(``quota_exceeded``).
"""

from __future__ import annotations

from datetime import datetime

from mutator.decisions import DecisionCode, SystemActor
from mutator.gates import Gate, GateKind, GateStatus, with_kind
from mutator.lifecycle.machine import Effect, Recorder
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.quotas import QuotaExceeded


def quota_gate(request: MutationRequest) -> Gate | None:
    """The request's quota gate, if its execution ever found its quota full."""
    return next((g for g in request.gates if g.kind == GateKind.QUOTA), None)


def quota_exceeded(recorder: Recorder, exceeded: QuotaExceeded) -> None:
    """Record a full quota on ``recorder``'s request: wait for a slot, or be rejected.

    The caller has checked that the request is ``approved``; ``exceeded`` is what its
    execution found.
    """
    request = recorder.request
    if exceeded.use.on_exceeded == "reject":
        request.gates = with_kind(
            request.gates,
            GateKind.QUOTA,
            [
                Gate(
                    kind=GateKind.QUOTA,
                    name=exceeded.name,
                    status=GateStatus.FAILED,
                    detail=exceeded.detail,
                )
            ],
        )
        recorder.reject(RejectionCode.QUOTA_EXCEEDED, f"quota {exceeded.name}: {exceeded.detail}")
        return
    request.scheduled_for = exceeded.next_slot
    request.gates = with_kind(
        request.gates,
        GateKind.QUOTA,
        [Gate(kind=GateKind.QUOTA, name=exceeded.name, detail=exceeded.detail)],
    )
    recorder.move(
        RequestStatus.PENDING,
        PendingReason.QUOTA,
        DecisionCode.PENDING,
        SystemActor.SYSTEM,
        f"waits for its quota: {exceeded.detail}",
    )


def quota_free(request: MutationRequest, now: datetime) -> Effect:
    """The quota's next slot is free (its time came): ``approved`` again, to execute.

    A request that no longer waits for its quota (canceled meanwhile) is left as it is.
    Its execution takes a slot again: taken by another meanwhile, it waits again.
    """
    if not waiting_for_quota(request):
        return Effect()
    gate = quota_gate(request)
    name = gate.name if gate is not None else "quota"
    why = f"a slot of quota {name} is free at {now.isoformat()}"
    request.gates = with_kind(
        request.gates,
        GateKind.QUOTA,
        [Gate(kind=GateKind.QUOTA, name=name, status=GateStatus.PASSED, detail=why)],
    )
    request.scheduled_for = None
    recorder = Recorder(request, now)
    recorder.move(RequestStatus.APPROVED, None, DecisionCode.QUOTA_FREE, SystemActor.SYSTEM, why)
    return recorder.effect()


def waiting_for_quota(request: MutationRequest) -> bool:
    """Whether the request is ``pending`` for a slot of its quota."""
    return request.status == RequestStatus.PENDING and request.pending_reason == PendingReason.QUOTA
