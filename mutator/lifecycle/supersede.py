"""Supersede: a newer request for the same state and mutation ends the older ones.

A mutation declared with ``supersede=True`` makes each newly admitted request (its policies
allowed it, or asked for approvals) end every older request of the same state and mutation
that has not started to execute: they become ``superseded`` with ``superseded_by`` set, and
the newer one records ``supersedes``. A request already executing is never superseded, nor
is a batch. The older request decides itself (its workflow is the single writer of its
record); these functions say when it may, and what each side records.
"""

from __future__ import annotations

from datetime import datetime

from mutator.decisions import DecisionCode, SystemActor
from mutator.lifecycle.machine import Effect, IllegalTransition, Recorder
from mutator.models import DecisionCategory, MutationRequest, RequestStatus

# The statuses a request can be superseded from: it has not started to execute.
SUPERSEDABLE = frozenset({RequestStatus.PENDING, RequestStatus.APPROVED})


def supersede_refusal(request: MutationRequest, by: str) -> str | None:
    """Why ``request`` cannot be superseded by ``by`` now; None when it can.

    Also None when ``by`` superseded it already (a repeated message changes nothing).
    """
    rid = request.request_id
    if request.superseded_by == by and request.status == RequestStatus.SUPERSEDED:
        return None
    if by == rid:
        return f"request {rid} cannot supersede itself"
    if request.items:
        return f"request {rid} is a batch: batches are never superseded"
    if request.status == RequestStatus.EXECUTING:
        return f"request {rid} is executing: a request that started to execute is never superseded"
    if request.status not in SUPERSEDABLE:
        return f"request {rid} is {request.status.value}: there is nothing left to supersede"
    return None


def admitted_by_policies(request: MutationRequest) -> bool:
    """Whether the policies let ``request`` in: allowed, or asked for approvals."""
    for decision in request.decisions:
        if decision.category != DecisionCategory.LIFECYCLE:
            continue
        if decision.code in (DecisionCode.EXECUTING, DecisionCode.EXECUTED):
            return True
        by_policy = decision.actor == SystemActor.POLICY
        if by_policy and decision.code in (DecisionCode.APPROVED, DecisionCode.PENDING):
            return True
    return False


def _is_older(older: MutationRequest, newer: MutationRequest) -> bool:
    return (older.created_at, older.request_id) < (newer.created_at, newer.request_id)


def authority_refusal(
    older: MutationRequest, newer: MutationRequest | None, *, declared: bool
) -> str | None:
    """Why ``newer`` (as stored) has no authority to supersede ``older``; None when it has.

    It has when its mutation declares ``supersede=True`` (``declared``), it is a single
    request for the same state and mutation, submitted after ``older`` (ties broken by
    request id), and its policies admitted it.
    """
    if newer is None:
        return "no request with that id is stored"
    nid = newer.request_id
    if not declared:
        return f"mutation {older.mutation!r} does not declare supersede=True"
    if newer.items or newer.state_id != older.state_id or newer.mutation != older.mutation:
        return f"request {nid} is not a request for {older.mutation} on {older.state_id}"
    if not _is_older(older, newer):
        return f"request {nid} is not newer than {older.request_id}"
    if not admitted_by_policies(newer):
        return f"request {nid} was not admitted by the policies"
    return None


def superseded(request: MutationRequest, by: str, now: datetime) -> Effect:
    """End ``request``: ``superseded`` by the newer request ``by``, one decision.

    Raises:
        IllegalTransition: ``supersede_refusal`` refuses it.
    """
    refusal = supersede_refusal(request, by)
    if refusal is not None:
        raise IllegalTransition(request, f"be superseded ({refusal})")
    if request.status == RequestStatus.SUPERSEDED:
        return Effect()
    request.superseded_by = by
    recorder = Recorder(request, now)
    recorder.move(
        RequestStatus.SUPERSEDED,
        None,
        DecisionCode.SUPERSEDED,
        SystemActor.SYSTEM,
        f"superseded by {by}, a newer request for {request.mutation} on {request.state_id}",
    )
    return recorder.effect()


def record_supersedes(request: MutationRequest, ended: list[str], now: datetime) -> Effect:
    """The newer request's side: one ``supersedes`` decision naming the requests it ended.

    Nothing is recorded when it ended none (or only ones it recorded already).
    """
    new = [rid for rid in ended if rid not in request.supersedes]
    if not new:
        return Effect()
    request.supersedes = [*request.supersedes, *new]
    recorder = Recorder(request, now)
    recorder.decide(
        DecisionCategory.LIFECYCLE,
        DecisionCode.SUPERSEDES,
        SystemActor.SYSTEM,
        "superseded " + ", ".join(new),
    )
    return recorder.effect()
