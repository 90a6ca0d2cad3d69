"""The diffs a request records: its handler's planned change, and the change it applied.

See ``mutator.diffs`` for what a diff is and how it is bounded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from mutator.activities.outcomes import HandlerFailed, StateData, change_for
from mutator.app import ValidationRefused
from mutator.diffs import UNWRITTEN, StateDiff, failed_diff, state_diff
from mutator.models import MutationRequest, StateView
from mutator.mutations import Mutation


def plan_change(mutation: Mutation, payload: StateData, state: StateView | None) -> StateDiff:
    """The change the mutation's validators and handler make of ``state`` (nothing stored).

    A validator that refuses or a handler that raises gives a diff with its ``error``: the
    state may yet change before the request executes, so that is no reason to end it here.
    """
    return try_change(mutation, payload, state)[1]


def try_change(
    mutation: Mutation, payload: StateData, state: StateView | None
) -> tuple[StateData | None, StateDiff]:
    """``plan_change``, with the state's data after the change (None when it failed)."""
    data = copy.deepcopy(state.data) if state else {}
    version = state.version if state else 0
    before = copy.deepcopy(data)
    try:
        after = change_for(mutation, payload)(data)
    except (ValidationRefused, HandlerFailed) as exc:
        return None, failed_diff(version, str(exc))
    return after, state_diff(before, after, version)


def recording_diffs(
    change: Callable[[StateData], StateData], request: MutationRequest
) -> Callable[[StateData], StateData]:
    """``change``, recording on ``request`` (the record its write stores) the diff it makes.

    The handler runs once: a request allowed at once was not planned at its evaluation, so
    its planned diff is the one it applied. The store fills in the diff's version.
    """
    planned = request.planned_diff is not None
    made: dict[int, StateDiff] = {}

    def recorded(data: StateData) -> StateData:
        after = diffed(change, made, 0)(data)
        request.applied_diff = made[0]
        if not planned:
            request.planned_diff = request.applied_diff
        return after

    return recorded


def diffed(
    change: Callable[[StateData], StateData], made: dict[int, StateDiff], key: int
) -> Callable[[StateData], StateData]:
    """``change``, keeping the diff it makes as ``made[key]`` (version ``UNWRITTEN``)."""

    def run(data: StateData) -> StateData:
        before = copy.deepcopy(data)
        after = change(data)
        made[key] = state_diff(before, after, UNWRITTEN)
        return after

    return run
