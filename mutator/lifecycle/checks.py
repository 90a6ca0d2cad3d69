"""The external-check gate: a request that waits until each required check is reported.

The first evaluation's ``RequireChecks`` become the request's ``required_checks``, each with
its deadline and a waiting ``external_check`` gate (``require_checks``); the request waits
``pending`` for its checks and its approvals at the same time. A report
(``report_check``) by an eligible reporter passes the check's gate, or fails it and rejects
the request (``check_failed``). A report is final: the same result again is accepted and
changes nothing (idempotent), a different result is refused. When every gate is met,
``gates_complete`` approves the request; a gate deadline that passes expires it
(``votes.deadline_passed``). Pure: the caller passes the time in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mutator.decisions import DecisionCode, SystemActor
from mutator.external_checks import CheckReport, CheckRequirement, check_comment
from mutator.gates import Gate, GateKind, GateStatus, replaced_in_place, with_gate
from mutator.lifecycle.check_state import check_status, gates_met
from mutator.lifecycle.machine import Effect, IllegalTransition, Recorder, VoteRefused
from mutator.lifecycle.votes import (
    STILL_EVALUATING,
    approvals_complete,
    progress,
    signed_vote_refusal,
)
from mutator.models import (
    DecisionCategory,
    MutationRequest,
    RejectionCode,
    RequestStatus,
    SignedProof,
)


def _recorded(request: MutationRequest, name: str) -> Gate | None:
    for gate in request.gates:
        if gate.kind == GateKind.EXTERNAL_CHECK and gate.name == name:
            return gate
    return None


def _result_of(gate: Gate) -> str | None:
    return {GateStatus.PASSED: "passed", GateStatus.FAILED: "failed"}.get(gate.status)


def require_checks(
    request: MutationRequest, checks: Sequence[CheckRequirement], now: datetime
) -> str:
    """Set ``required_checks``, each with its deadline and a waiting gate; say what it waits for.

    Returns:
        The wait in words, for the ``pending`` decision (``checks: ci, security-scan``).
    """
    request.required_checks = []
    for check in checks:
        deadline = now + timedelta(seconds=check.timeout_seconds)
        request.required_checks.append(check.model_copy(update={"deadline": deadline}))
        who = ", ".join(check.eligible)
        detail = f"waiting for a report until {deadline.isoformat()} (reporters: {who})"
        request.gates = with_gate(
            request.gates, Gate(kind=GateKind.EXTERNAL_CHECK, name=check.name, detail=detail)
        )
    return "checks: " + ", ".join(check.name for check in checks)


def _eligibility_refusal(request: MutationRequest, report: CheckReport) -> str | None:
    if not report.actor.strip():
        return "actor must not be empty: say who reports the check"
    if not report.name:
        return "name must not be empty: say which check is reported"
    required = {check.name: check for check in request.required_checks}
    if report.name not in required:
        wanted = ", ".join(required) or "none"
        return (
            f"check {report.name!r} is not required by request {request.request_id} "
            f"(required checks: {wanted})"
        )
    if report.actor == request.requester:
        return f"{report.actor} is the requester: a request's checks are reported by others"
    eligible = required[report.name].eligible
    if report.actor not in eligible:
        return (
            f"{report.actor} may not report check {report.name} (reporters: {', '.join(eligible)})"
        )
    return None


def is_repeat(request: MutationRequest, report: CheckReport) -> bool:
    """Whether ``report`` says again what was already recorded for its check (a no-op)."""
    gate = _recorded(request, report.name)
    return gate is not None and _result_of(gate) == report.result


def report_refusal(
    request: MutationRequest,
    report: CheckReport,
    *,
    admitted: bool,
    proof: SignedProof | None = None,
) -> str | None:
    """Why ``report`` is refused now, or None when it is accepted (or is a harmless repeat).

    Refused: before the evaluation ended; an empty actor or name; a check the request does
    not require; the requester, or anyone not eligible for the check; a request that no
    longer waits; a result other than the one already reported (a report is final); a
    signature that no longer fits (``signed_vote_refusal``).
    """
    if not admitted:
        return STILL_EVALUATING
    refusal = _eligibility_refusal(request, report)
    if refusal is not None:
        return refusal
    if is_repeat(request, report):
        return None
    if request.status != RequestStatus.PENDING:
        return (
            f"request {request.request_id} is {request.status.value}; it no longer waits for "
            f"check reports"
        )
    gate = _recorded(request, report.name)
    if gate is not None and gate.status != GateStatus.WAITING:
        return (
            f"check {report.name} was already reported {_result_of(gate)}; a report is final "
            "(cancel the request to stop it)"
        )
    return signed_vote_refusal(request, proof)


def report_check(
    request: MutationRequest,
    report: CheckReport,
    now: datetime,
    *,
    admitted: bool = True,
    proof: SignedProof | None = None,
) -> Effect:
    """Record a check's report: ``check_passed``, or ``check_failed`` then ``rejected``.

    The decision's reason is ``check_comment`` (what a signed report signs), its actor the
    reporter, with the report's proof when signed. A failed check rejects the request with
    ``check_failed``, naming the check and its details. A repeat records nothing.

    Raises:
        VoteRefused: ``report_refusal`` refuses it.
    """
    refusal = report_refusal(request, report, admitted=admitted, proof=proof)
    if refusal:
        raise VoteRefused(refusal)
    recorder = Recorder(request, now)
    if is_repeat(request, report):
        return recorder.effect()
    said = f": {report.details}" if report.details else ""
    passed = report.result == "passed"
    reported = Gate(
        kind=GateKind.EXTERNAL_CHECK,
        name=report.name,
        status=GateStatus.PASSED if passed else GateStatus.FAILED,
        detail=f"{report.result}, reported by {report.actor}{said}",
    )
    request.gates = replaced_in_place(request.gates, reported)
    recorder.decide(
        DecisionCategory.LIFECYCLE,
        DecisionCode.CHECK_PASSED if passed else DecisionCode.CHECK_FAILED,
        report.actor,
        check_comment(report.name, report.result, report.details),
        proof=proof,
    )
    if not passed:
        recorder.reject(
            RejectionCode.CHECK_FAILED,
            f"check {report.name} failed (reported by {report.actor}){said}",
        )
    return recorder.effect()


def gates_complete(request: MutationRequest, now: datetime) -> Effect:
    """Every gate is met: ``approved``; nothing if no longer ``pending``.

    Without checks and overrides this is ``votes.approvals_complete``. Else: by ``gates``
    (or ``approvers`` when approvals were required too), the reason listing the checks passed
    and the soft denials overridden.

    Raises:
        IllegalTransition: the request is pending and a gate is not met.
    """
    if not request.required_checks and not request.required_overrides:
        return approvals_complete(request, now)
    recorder = Recorder(request, now)
    if request.status != RequestStatus.PENDING:
        return recorder.effect()
    if not gates_met(request):
        raise IllegalTransition(request, "be approved before its gates are met")
    met = []
    if request.required_checks:
        met.append("checks passed: " + ", ".join(c.name for c in request.required_checks))
    if request.required_overrides:
        met.append("overridden: " + ", ".join(o.policy for o in request.required_overrides))
    if request.required_approvals:
        actor, reason = SystemActor.APPROVERS, "; ".join([progress(request), *met])
    else:
        actor, reason = SystemActor.GATES, "; ".join(met)
    recorder.move(RequestStatus.APPROVED, None, DecisionCode.APPROVED, actor, reason)
    return recorder.effect()


__all__ = [
    "check_status",
    "gates_complete",
    "gates_met",
    "is_repeat",
    "report_check",
    "report_refusal",
    "require_checks",
]
