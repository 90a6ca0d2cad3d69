"""The dependency gate: a request that waits until the requests it names are executed.

A request submitted with ``after`` waits ``pending`` (reason ``dependency``) before its
evaluation: its policies and validators run on the state its dependencies left. Each named
request has a gate; it passes when that request is ``executed``. A dependency that ends any
other way rejects the request (``dependency_failed``, naming it).
"""

from __future__ import annotations

from datetime import datetime

from mutator.decisions import DecisionCode, SystemActor
from mutator.gates import Gate, GateKind, GateStatus, with_gate
from mutator.lifecycle.machine import Effect, IllegalTransition, Recorder, require
from mutator.models import (
    DecisionCategory,
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
)


def dependency_gates(request: MutationRequest) -> list[Gate]:
    """The request's dependency gates, in the order of ``after``."""
    return [gate for gate in request.gates if gate.kind == GateKind.DEPENDENCY]


def dependencies_met(request: MutationRequest) -> bool:
    """Whether every request named by ``after`` is executed (true when it names none)."""
    passed = {g.name for g in dependency_gates(request) if g.status == GateStatus.PASSED}
    return passed.issuperset(request.after)


def await_dependencies(request: MutationRequest, now: datetime) -> Effect:
    """Start waiting for ``after``: one gate per request named, one ``pending`` decision.

    Raises:
        IllegalTransition: the request is not a submitted one (``pending``, no reason yet),
            or names no dependency.
    """
    require(request, (RequestStatus.PENDING,), "wait for its dependencies")
    if request.pending_reason is not None or not request.after:
        raise IllegalTransition(request, "wait for dependencies now")
    for name in request.after:
        request.gates = with_gate(
            request.gates,
            Gate(kind=GateKind.DEPENDENCY, name=name, detail=f"waits for {name} to be executed"),
        )
    recorder = Recorder(request, now)
    recorder.move(
        RequestStatus.PENDING,
        PendingReason.DEPENDENCY,
        DecisionCode.PENDING,
        SystemActor.SYSTEM,
        f"waits for {', '.join(request.after)} to be executed",
    )
    return recorder.effect()


def dependency_ended(
    request: MutationRequest,
    name: str,
    status: RequestStatus | None,
    now: datetime,
    why: str = "",
) -> Effect:
    """A request named by ``after`` reached ``status``; None: it has none (``why`` says why).

    ``executed``: its gate passes, with a ``dependency_met`` decision; once every gate has
    passed the request has no pending reason left and is evaluated next. Anything else:
    its gate fails and the request is ``rejected`` with ``dependency_failed``. A request
    that no longer waits (canceled meanwhile) is left as it is.

    Raises:
        IllegalTransition: ``name`` is not one of the request's dependencies.
    """
    if name not in request.after:
        raise IllegalTransition(request, f"take the outcome of {name}, which it does not wait for")
    waiting = request.status == RequestStatus.PENDING
    if not waiting or request.pending_reason != PendingReason.DEPENDENCY:
        return Effect()
    recorder = Recorder(request, now)
    if status == RequestStatus.EXECUTED:
        detail = f"{name} is executed"
        request.gates = with_gate(
            request.gates,
            Gate(kind=GateKind.DEPENDENCY, name=name, status=GateStatus.PASSED, detail=detail),
        )
        recorder.decide(
            DecisionCategory.LIFECYCLE, DecisionCode.DEPENDENCY_MET, SystemActor.SYSTEM, detail
        )
        if dependencies_met(request):
            request.pending_reason = None  # evaluated next
        return recorder.effect()
    detail = f"{name} is {status.value}, not executed" if status else f"{name}: {why}"
    request.gates = with_gate(
        request.gates,
        Gate(kind=GateKind.DEPENDENCY, name=name, status=GateStatus.FAILED, detail=detail),
    )
    recorder.reject(RejectionCode.DEPENDENCY_FAILED, f"dependency {detail}")
    return recorder.effect()
