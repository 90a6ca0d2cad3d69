"""Compensation, pure: who may be compensated, and the decisions it writes on both requests.

A compensation is a new governed request (``compensates`` = the original) that undoes an
executed one: ``restore`` sets the state's data back to what it was before the original,
only while the original's change is still the state's latest version; ``inverse`` submits
the payload the mutation's ``@handler.inverse`` computes, a forward correction. Submitting
it links the original (``compensated_by``, one ``compensation_requested`` decision); its
execution moves the original from ``executed`` to ``compensated`` in the same transaction
as its change (one ``compensated`` decision). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from datetime import datetime

from mutator.decisions import DecisionCode
from mutator.lifecycle.machine import Effect, IllegalTransition, Recorder, decide
from mutator.models import (
    NOT_APPLIED_STATUSES,
    CompensationMode,
    DecisionCategory,
    MutationRequest,
    RequestStatus,
)


def later_versions(made: int, current_version: int) -> list[int]:
    """The state's versions after ``made`` (empty: the change that made it is the latest)."""
    return list(range(made + 1, current_version + 1))


def compensation_refusal(
    original: MutationRequest,
    by: str,
    mode: CompensationMode,
    *,
    linked: MutationRequest | None,
    current_version: int,
    has_inverse: bool | None,
) -> str | None:
    """Why ``original`` cannot be compensated by the new request ``by`` now; None: it can.

    Args:
        original: The request to undo.
        by: The compensation's request id.
        mode: ``restore`` or ``inverse``.
        linked: The request ``original.compensated_by`` names, as stored (None: none, or
            not stored yet: then it is under way).
        current_version: The version of the original's state now.
        has_inverse: Whether the mutation declares an inverse; None: not known here (a
            client; the worker checks it).
    """
    rid = original.request_id
    if original.status == RequestStatus.COMPENSATED:
        return f"request {rid} is compensated already (by {original.compensated_by})"
    if original.items:
        return f"request {rid} is a batch: only a single request can be compensated"
    if original.status != RequestStatus.EXECUTED or original.resulting_version is None:
        return (
            f"request {rid} is {original.status.value}: only an executed request can be compensated"
        )
    # A linked compensation not stored yet is being planned or evaluated: under way too.
    if original.compensated_by not in (None, by) and (
        linked is None or linked.status not in NOT_APPLIED_STATUSES
    ):
        status = linked.status.value if linked is not None else "submitted"
        return f"request {rid} has a compensation under way: {original.compensated_by} ({status})"
    if mode == "inverse" and has_inverse is False:
        return (
            f"mutation {original.mutation!r} declares no inverse (@{original.mutation}.inverse): "
            f"compensate request {rid} with --mode restore"
        )
    later = later_versions(original.resulting_version, current_version)
    if mode == "restore" and later:
        return (
            f"request {rid} cannot be restored: state {original.state_id} has later "
            f"version{'s' if len(later) > 1 else ''} {', '.join(map(str, later))} "
            f"(restore only while its change is the latest; --mode inverse corrects forward)"
        )
    return None


def link_compensation(
    original: MutationRequest, compensation: MutationRequest, now: datetime
) -> Effect:
    """The original's side of a submitted compensation: ``compensated_by`` and one decision.

    The status stays ``executed`` until the compensation executes. Linking again to the same
    compensation records nothing.
    """
    if original.compensated_by == compensation.request_id:
        return Effect()
    original.compensated_by = compensation.request_id
    return decide(
        original,
        DecisionCategory.LIFECYCLE,
        DecisionCode.COMPENSATION_REQUESTED,
        compensation.requester,
        f"{compensation.compensation_mode} by {compensation.request_id}: {compensation.reason}",
        now,
    )


def record_compensates(compensation: MutationRequest, planned: str, now: datetime) -> Effect:
    """The compensation's side: one ``compensates`` decision naming the original and the plan."""
    return decide(
        compensation,
        DecisionCategory.LIFECYCLE,
        DecisionCode.COMPENSATES,
        compensation.requester,
        f"compensates {compensation.compensates} ({compensation.compensation_mode}): {planned}",
        now,
    )


def compensated(original: MutationRequest, compensation: MutationRequest, now: datetime) -> Effect:
    """Move ``original`` from ``executed`` to ``compensated``: the compensation executed.

    Only the compensation's execution calls this, in the transaction of its change.

    Raises:
        IllegalTransition: ``original`` is not ``executed``, or is linked to another
            compensation.
    """
    if original.compensated_by not in (None, compensation.request_id):
        raise IllegalTransition(
            original, f"be compensated by {compensation.request_id} (linked to another)"
        )
    recorder = Recorder(original, now)
    recorder.move(
        RequestStatus.COMPENSATED,
        None,
        DecisionCode.COMPENSATED,
        compensation.requester,
        f"compensated by {compensation.request_id} ({compensation.compensation_mode}); "
        f"state {compensation.state_id} is now at version {compensation.resulting_version}",
        by_compensation=True,
    )
    original.compensated_by = compensation.request_id
    return recorder.effect()
