"""Keeping a request's gates and its ``pending_reason`` in step with the request.

Every lifecycle step ends here (``Recorder.effect``): the approval gates are rebuilt from
the request's requirements and votes, and a ``pending`` request's ``pending_reason`` becomes
the kind of its first outstanding gate (``mutator.gates.GATE_ORDER``). Gates of the other
kinds are set by their own steps (``mutator.lifecycle.dependencies``, ...) and kept as they
are here.
"""

from __future__ import annotations

from mutator import approvals as rules
from mutator.gates import Gate, GateKind, GateStatus, first_outstanding, with_kind
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus


def approval_gates(request: MutationRequest) -> list[Gate]:
    """One gate per approval requirement, named by its policy, with its progress."""
    counts = rules.progress(request.required_approvals, request.requester, request.approvals)
    rejected = (
        request.rejection is not None and request.rejection.code == RejectionCode.APPROVER_REJECTED
    )
    gates = []
    for req, (have, need) in zip(request.required_approvals, counts, strict=True):
        if have >= need:
            status = GateStatus.PASSED
        elif rejected:
            status = GateStatus.FAILED
        else:
            status = GateStatus.WAITING
        who = ", ".join(sorted(req.eligible))
        detail = f"{have} of {need} approvals (eligible: {who})"
        gates.append(Gate(kind=GateKind.APPROVAL, name=req.policy, status=status, detail=detail))
    return gates


def sync_gates(request: MutationRequest) -> None:
    """Rebuild the approval gates; point a pending request's reason at its first gate.

    A ``revalidation`` request keeps that reason while its approval gate waits: it tells
    why the votes are asked for again.
    """
    request.gates = with_kind(request.gates, GateKind.APPROVAL, approval_gates(request))
    if request.status != RequestStatus.PENDING:
        return
    first = first_outstanding(request.gates)
    if first is None:
        return
    if first.kind == GateKind.APPROVAL and request.pending_reason == PendingReason.REVALIDATION:
        return
    request.pending_reason = PendingReason(first.kind.value)
