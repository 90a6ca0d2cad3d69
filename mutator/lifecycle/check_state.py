"""Where a request's external checks and overrides stand, and when its waiting gates run out.

Pure queries.

Apart from ``mutator.lifecycle.checks`` (the steps) so that the machine and the votes can
ask these questions without importing the steps. A request without checks answers exactly
as before checks existed: ``gates_met`` is its quorum, ``gate_deadline`` its ``deadline``.
"""

from __future__ import annotations

from datetime import datetime

from mutator import approvals as rules
from mutator.external_checks import CheckRequirement
from mutator.gates import GateKind, GateStatus
from mutator.models import MutationRequest
from mutator.overrides import OverrideRequirement

EXPIRED_REASON = "no quorum before the deadline"


def check_status(request: MutationRequest, name: str) -> GateStatus | None:
    """The status of check ``name``'s gate; None when the request does not require it."""
    for gate in request.gates:
        if gate.kind == GateKind.EXTERNAL_CHECK and gate.name == name:
            return gate.status
    return None


def waiting_checks(request: MutationRequest) -> list[CheckRequirement]:
    """The required checks not reported yet, in the order the policies asked for them."""
    return [
        check
        for check in request.required_checks
        if check_status(request, check.name) == GateStatus.WAITING
    ]


def checks_passed(request: MutationRequest) -> bool:
    """Whether every required check was reported passed (true when it requires none)."""
    return all(
        check_status(request, check.name) == GateStatus.PASSED for check in request.required_checks
    )


def override_status(request: MutationRequest, policy: str) -> GateStatus | None:
    """The status of policy ``policy``'s override gate; None when it did not softly deny."""
    for gate in request.gates:
        if gate.kind == GateKind.OVERRIDE and gate.name == policy:
            return gate.status
    return None


def waiting_overrides(request: MutationRequest) -> list[OverrideRequirement]:
    """The soft denials not overridden yet, in the order the policies gave them."""
    return [
        o
        for o in request.required_overrides
        if override_status(request, o.policy) == GateStatus.WAITING
    ]


def overrides_passed(request: MutationRequest) -> bool:
    """Whether every soft denial was overridden (true when there is none)."""
    return not waiting_overrides(request)


def _quorum_met(request: MutationRequest) -> bool:
    return rules.quorum_met(request.required_approvals, request.requester, request.approvals)


def gates_met(request: MutationRequest) -> bool:
    """Whether every approval requirement, check and soft denial's override is met."""
    return _quorum_met(request) and checks_passed(request) and overrides_passed(request)


def gate_deadline(request: MutationRequest) -> datetime | None:
    """When the first gate the request still waits for runs out.

    The approvals' ``deadline`` while they are short of their quorum, and each waiting
    check's and each waiting override's own deadline. Without checks and overrides: the
    request's ``deadline``, as before.
    """
    if not request.required_checks and not request.required_overrides:
        return request.deadline
    deadlines = [check.deadline for check in waiting_checks(request) if check.deadline]
    deadlines += [o.deadline for o in waiting_overrides(request) if o.deadline]
    if request.required_approvals and request.deadline and not _quorum_met(request):
        deadlines.append(request.deadline)
    return min(deadlines) if deadlines else None


def expiry_reason(request: MutationRequest) -> str:
    """Why a request whose gate deadline passed expires: what ran out."""
    if not request.required_checks and not request.required_overrides:
        return EXPIRED_REASON
    first = gate_deadline(request)
    late = [check.name for check in waiting_checks(request) if check.deadline == first]
    parts = []
    if late:
        parts.append(f"check {', '.join(late)} not reported before its deadline")
    unheard = [o.policy for o in waiting_overrides(request) if o.deadline == first]
    if unheard:
        parts.append(f"soft deny of {', '.join(unheard)} not overridden before its deadline")
    if request.required_approvals and request.deadline == first and not _quorum_met(request):
        parts.append(EXPIRED_REASON)
    return "; ".join(parts) or EXPIRED_REASON
