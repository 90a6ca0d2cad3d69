"""Which event a request's status change is, and what the event says (pure).

A request is notified when it enters ``pending`` (again, or for another reason) and when it
reaches a final status: ``event_type`` says which event a ``(status, pending_reason)``
is, ``request_event_data`` what the event carries. The request workflow sends them
(``workflows/request_notify.py``); nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from typing import Any

from mutator import gates
from mutator.decisions import DecisionCode
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.notifications import (
    CANCELLED_EVENT,
    EXECUTED_EVENT,
    EXPIRED_EVENT,
    FAILED_EVENT,
    PENDING_EVENT,
    REJECTED_EVENT,
    SUPERSEDED_EVENT,
)

_FINAL_EVENTS: dict[RequestStatus, str] = {
    RequestStatus.EXECUTED: EXECUTED_EVENT,
    RequestStatus.REJECTED: REJECTED_EVENT,
    RequestStatus.EXPIRED: EXPIRED_EVENT,
    RequestStatus.CANCELED: CANCELLED_EVENT,
    RequestStatus.FAILED: FAILED_EVENT,
    RequestStatus.SUPERSEDED: SUPERSEDED_EVENT,
}

# What a request looked like when it was last notified: (status, pending reason).
NotifiedKey = tuple[RequestStatus, PendingReason | None]


def notified_key(request: MutationRequest) -> NotifiedKey:
    """What changes of a request are notified: its status and its pending reason."""
    return (request.status, request.pending_reason)


def event_type(request: MutationRequest) -> str | None:
    """The event the request's status is: ``request.pending`` or its final status's; else None.

    Every final status has one: ``request.cancelled`` for ``canceled``, and
    ``request.<status>`` for one without its own name (e.g. ``request.compensated``).
    """
    if request.status == RequestStatus.PENDING:
        return PENDING_EVENT
    if request.status.is_terminal:
        return _FINAL_EVENTS.get(request.status, f"request.{request.status.value}")
    return None


def approve_command(request_id: str) -> str:
    """The command an eligible approver runs to approve the request."""
    return f"mutator approve {request_id} --actor <you>"


def eligible_approvers(request: MutationRequest) -> list[str]:
    """Who may still approve: every requirement's eligible people, without those who did."""
    voted = {approval.actor for approval in request.approvals}
    names: list[str] = []
    for requirement in request.required_approvals:
        for name in requirement.eligible or requirement.approvers:
            if name not in voted and name not in names:
                names.append(name)
    return names


def request_event_data(request: MutationRequest) -> dict[str, Any]:
    """What an event says about the request (docs/notifications.md has each field).

    Ids and a summary only: not the payload, which the store keeps (``mutator show``); a
    pending request's event carries its planned diff, the change approvers approve.
    """
    data: dict[str, Any] = {
        "request_id": request.request_id,
        "state_id": request.state_id,
        "mutation": request.mutation,
        "requester": request.requester,
        "reason": request.reason,
        "status": request.status.value,
        "pending_reason": request.pending_reason.value if request.pending_reason else None,
        "revision": request.revision,
        "created_at": request.created_at.isoformat(),
        "updated_at": request.updated_at.isoformat(),
    }
    if request.compensates is not None:
        # The compensated request's workflow has ended: its compensation's events say it.
        data["compensates"] = request.compensates
        data["compensation_mode"] = request.compensation_mode
    if request.status == RequestStatus.PENDING:
        data["gates"] = [g.model_dump(mode="json") for g in gates.outstanding(request.gates)]
        data["required_approvals"] = [
            {
                "policy": r.policy,
                "count": r.count,
                "roles": list(r.roles),
                "eligible": list(r.eligible or r.approvers),
            }
            for r in request.required_approvals
        ]
        data["required_overrides"] = [
            {"policy": o.policy, "reason": o.reason, "eligible": list(o.eligible)}
            for o in request.required_overrides
        ]
        data["approved_by"] = [a.actor for a in request.approvals]
        data["eligible_approvers"] = eligible_approvers(request)
        data["approve_command"] = approve_command(request.request_id)
        data["deadline"] = request.deadline.isoformat() if request.deadline else None
        data["scheduled_for"] = request.scheduled_for.isoformat() if request.scheduled_for else None
        # What approvers approve: the change itself (bounded: mutator.diffs).
        planned = request.planned_diff
        data["planned_diff"] = planned.model_dump(mode="json") if planned else None
        return data
    if request.rejection is not None:
        data["rejection"] = request.rejection.model_dump(mode="json")
    if request.resulting_version is not None:
        data["resulting_version"] = request.resulting_version
    if request.error:
        data["error"] = request.error
    return data


def break_glass_event(request: MutationRequest) -> dict[str, Any]:
    """What ``request.break_glass`` adds to the request's fields: who declared it, and why."""
    declared = next((d for d in request.decisions if d.code == DecisionCode.BREAK_GLASS), None)
    return {
        "break_glass": {
            "declared_by": declared.actor if declared else request.requester,
            "reason": declared.reason if declared else request.reason,
            "at": (declared.at if declared else request.created_at).isoformat(),
        }
    }
