"""The request's statuses, the transitions between them, and the records they write.

Every change to a request goes through here: a status change is a ``Transition`` and
writes one ``lifecycle`` decision; other steps write decisions without changing the status.
Nothing here reads a clock or does I/O: the caller passes the time in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from mutator.decisions import DecisionCode, SystemActor, rejected_code
from mutator.lifecycle.check_state import (
    checks_passed,
    gate_deadline,
    overrides_passed,
    waiting_checks,
    waiting_overrides,
)
from mutator.lifecycle.gate_sync import sync_gates
from mutator.models import (
    TERMINAL_STATUSES,
    Decision,
    DecisionCategory,
    MutationRequest,
    PendingReason,
    Rejection,
    RejectionCode,
    RequestStatus,
    SignedProof,
)

_S = RequestStatus

# Which status a request may move to from each status. A submitted request is ``pending``
# (with no pending reason) until its evaluation; it may then stay ``pending`` for votes.
# A single request goes from ``approved`` (or, executed directly, from ``pending``) to
# ``executed`` in one write; only a batch passes through ``executing``.
TRANSITIONS: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    _S.PENDING: frozenset(
        {
            _S.PENDING,
            _S.APPROVED,
            _S.EXECUTED,
            _S.REJECTED,
            _S.CANCELED,
            _S.EXPIRED,
            _S.FAILED,
            _S.SUPERSEDED,
        }
    ),
    _S.APPROVED: frozenset(
        {_S.PENDING, _S.EXECUTING, _S.EXECUTED, _S.REJECTED, _S.FAILED, _S.SUPERSEDED}
    ),
    _S.EXECUTING: frozenset({_S.EXECUTED, _S.REJECTED, _S.FAILED}),
    **{status: frozenset() for status in TERMINAL_STATUSES},
    # Final, but undone later: only the execution of its compensation takes this arrow
    # (lifecycle.compensation.compensated), never the request's own workflow.
    _S.EXECUTED: frozenset({_S.COMPENSATED}),
}


class LifecycleError(Exception):
    """A step the request's lifecycle does not allow."""


class IllegalTransition(LifecycleError):
    """A step the request's status does not allow, e.g. any change out of a final status.

    Nothing is recorded: the request is left as it was.
    """

    def __init__(self, request: MutationRequest, step: str) -> None:
        """Say which request, in which status, could not take ``step``."""
        self.status = request.status
        self.step = step
        final = " (a final status)" if request.status.is_terminal else ""
        super().__init__(
            f"request {request.request_id} is {request.status.value}{final}: cannot {step}"
        )


class VoteRefused(LifecycleError):
    """An approve, reject or cancel that the request does not accept now."""


def can_transition(source: RequestStatus, target: RequestStatus) -> bool:
    """Whether a request may move from ``source`` to ``target``."""
    return target in TRANSITIONS[source]


def require(request: MutationRequest, allowed: Collection[RequestStatus], step: str) -> None:
    """Raise IllegalTransition unless the request's status is one of ``allowed``."""
    if request.status not in allowed:
        raise IllegalTransition(request, step)


# A pending request moves on to run only once every required check passed and every soft
# denial was overridden, whichever step asks (a quorum, a schedule or quota that opens, a
# direct execution).
_GATED_BY_CHECKS = frozenset({_S.APPROVED, _S.EXECUTED})


def _check_move(
    request: MutationRequest, target: RequestStatus, *, by_compensation: bool = False
) -> None:
    if not can_transition(request.status, target):
        raise IllegalTransition(request, f"go to {target.value}")
    if target == _S.COMPENSATED and not by_compensation:
        raise IllegalTransition(request, "go to compensated (only its compensation executing)")
    gated = request.status == _S.PENDING and target in _GATED_BY_CHECKS
    if gated and not checks_passed(request):
        outstanding = ", ".join(c.name for c in waiting_checks(request)) or "a failed check"
        raise IllegalTransition(
            request, f"go to {target.value} before its checks pass ({outstanding})"
        )
    if gated and not overrides_passed(request):
        soft = ", ".join(o.policy for o in waiting_overrides(request))
        raise IllegalTransition(request, f"go to {target.value} before an override of {soft}")


@dataclass(frozen=True)
class Transition:
    """One status change, with the lifecycle decision that records it."""

    source: RequestStatus
    target: RequestStatus
    decision: Decision


@dataclass(frozen=True)
class AwaitApprovals:
    """Wait for votes and check reports until ``deadline``, the first gate deadline.

    The request expires then if that gate is still not met; a gate passing meanwhile moves
    the deadline (``check_state.gate_deadline``).
    """

    deadline: datetime


@dataclass(frozen=True)
class AwaitSchedule:
    """Wait until ``until`` (the schedule's next open time) or a change of the schedule."""

    until: datetime


@dataclass(frozen=True)
class AwaitQuota:
    """Wait until ``until``, when the next slot of the request's quota frees."""

    until: datetime


@dataclass(frozen=True)
class Execute:
    """Run the approved request: a single one on its state's lane, or a batch by its mode."""

    batch: bool


@dataclass(frozen=True)
class ResolveStale:
    """The state moved past the base version: apply the request's ``on_stale`` strategy."""

    current_version: int


@dataclass(frozen=True)
class Reevaluate:
    """Run validators and policies again on ``current_version`` (``on_stale="revalidate"``)."""

    current_version: int


@dataclass(frozen=True)
class Done:
    """The request reached a final status; nothing else changes it."""

    status: RequestStatus


# What the workflow does next with an evaluated request (``next_step``) ...
NextStep = AwaitApprovals | AwaitSchedule | AwaitQuota | Execute | Done
# ... and what a step may ask for first (``Effect.then``).
Then = ResolveStale | Reevaluate


@dataclass(frozen=True)
class Effect:
    """What one step did to a request: the decisions it wrote, at most one transition.

    ``then`` is a step the caller must take before ``next_step`` applies again.
    """

    decisions: tuple[Decision, ...] = ()
    transition: Transition | None = None
    then: Then | None = None


class Recorder:
    """Writes one step's decisions and status change onto a request, at one time."""

    def __init__(self, request: MutationRequest, now: datetime) -> None:
        """Record onto ``request`` with the time ``now``."""
        self.request = request
        self.now = now
        self.decisions: list[Decision] = []
        self.transition: Transition | None = None

    def decide(
        self,
        category: DecisionCategory,
        code: str,
        actor: str,
        reason: str,
        *,
        proof: SignedProof | None = None,
    ) -> Decision:
        """Add a decision; ``code`` is a DecisionCode or a composite ``rejected:<code>``.

        ``proof``: the actor's verified signature, for a person's signed decision.
        """
        decision = Decision(
            category=category, code=code, actor=actor, reason=reason, at=self.now, proof=proof
        )
        self.request.decisions.append(decision)
        self.request.updated_at = self.now
        self.decisions.append(decision)
        return decision

    def move(
        self,
        target: RequestStatus,
        pending: PendingReason | None,
        code: str,
        actor: str,
        reason: str,
        *,
        proof: SignedProof | None = None,
        by_compensation: bool = False,
    ) -> None:
        """Change the status and write its lifecycle decision; one per step at most.

        ``by_compensation``: the step is a compensation's execution, the only one that may
        move a request to ``compensated`` (lifecycle.compensation.compensated).
        """
        _check_move(self.request, target, by_compensation=by_compensation)
        if self.transition is not None:
            raise LifecycleError("one step changes the status once")
        source = self.request.status
        self.request.status = target
        self.request.pending_reason = pending
        decision = self.decide(DecisionCategory.LIFECYCLE, code, actor, reason, proof=proof)
        self.transition = Transition(source, target, decision)

    def reject(self, code: RejectionCode, reason: str, actor: str = SystemActor.SYSTEM) -> None:
        """Move to ``rejected`` with ``rejection`` set."""
        _check_move(self.request, RequestStatus.REJECTED)
        self.request.rejection = Rejection(code=code, reason=reason, actor=actor)
        self.move(RequestStatus.REJECTED, None, rejected_code(code), actor, reason)

    def fail(self, error: str) -> None:
        """Move to ``failed`` with ``error`` kept."""
        _check_move(self.request, RequestStatus.FAILED)
        self.request.error = error
        self.move(RequestStatus.FAILED, None, DecisionCode.FAILED, SystemActor.SYSTEM, error)

    def effect(self, then: Then | None = None) -> Effect:
        """What was recorded, for the caller to act on; the request's gates follow it."""
        sync_gates(self.request)
        return Effect(tuple(self.decisions), self.transition, then)


def decide(
    request: MutationRequest,
    category: DecisionCategory,
    code: DecisionCode,
    actor: str,
    reason: str,
    now: datetime,
) -> Effect:
    """Add one decision without changing the status (e.g. a lane turn)."""
    recorder = Recorder(request, now)
    recorder.decide(category, code, actor, reason)
    return recorder.effect()


def transition(
    request: MutationRequest,
    target: RequestStatus,
    pending: PendingReason | None,
    code: DecisionCode,
    actor: str,
    reason: str,
    now: datetime,
) -> Effect:
    """Move ``request`` to ``target``, writing one lifecycle decision.

    Raises:
        IllegalTransition: the lifecycle does not allow that move from the current status.
    """
    recorder = Recorder(request, now)
    recorder.move(target, pending, code, actor, reason)
    return recorder.effect()


def reject(
    request: MutationRequest,
    code: RejectionCode,
    reason: str,
    now: datetime,
    actor: str = SystemActor.SYSTEM,
) -> Effect:
    """Reject ``request``: one ``rejected:<code>`` decision.

    Raises:
        IllegalTransition: the request is already final.
    """
    recorder = Recorder(request, now)
    recorder.reject(code, reason, actor)
    return recorder.effect()


def fail(request: MutationRequest, error: str, now: datetime) -> Effect:
    """Fail ``request`` with ``error``: one ``failed`` decision.

    Raises:
        IllegalTransition: the request is already final.
    """
    recorder = Recorder(request, now)
    recorder.fail(error)
    return recorder.effect()


def next_step(request: MutationRequest) -> NextStep:
    """What the workflow does next with a request that has been evaluated.

    Raises:
        LifecycleError: the request is ``executing`` (its execution decides what follows)
            or ``pending`` without a deadline (not evaluated yet).
    """
    status = request.status
    if status.is_terminal:
        return Done(status)
    if status == RequestStatus.APPROVED:
        return Execute(batch=bool(request.items))
    waits_for_schedule = request.pending_reason == PendingReason.SCHEDULE
    if status == RequestStatus.PENDING and waits_for_schedule and request.scheduled_for:
        return AwaitSchedule(request.scheduled_for)
    waits_for_quota = request.pending_reason == PendingReason.QUOTA
    if status == RequestStatus.PENDING and waits_for_quota and request.scheduled_for:
        return AwaitQuota(request.scheduled_for)
    deadline = gate_deadline(request)
    if status == RequestStatus.PENDING and deadline is not None:
        return AwaitApprovals(deadline)
    raise LifecycleError(f"request {request.request_id} is {status.value}: no step to take")


def adopt(current: MutationRequest, stored: MutationRequest, seen: int) -> MutationRequest:
    """The request as its execution stored it, plus decisions ``current`` got since ``seen``.

    Raises:
        IllegalTransition: the stored status cannot follow the current one.
    """
    if stored.status != current.status:
        _check_move(current, stored.status)
    adopted = stored
    adopted.decisions.extend(current.decisions[seen:])
    return adopted
