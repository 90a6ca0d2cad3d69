"""Undoing the applied items of a sequential batch whose later item failed (a saga).

Each item is undone by ``restore`` while its change is still its state's latest version
(the data before it, expected at the version it made), else by its mutation's inverse (a
forward correction through validators and handler), else not at all: refused, named. The
undo is one more change of the state, recorded in its history as ``<request id>#<index>
:compensation`` (a retried activity finds it recorded and applies nothing again).
"""

from __future__ import annotations

from collections.abc import Callable

from mutator.activities.outcomes import HandlerFailed, StateData, change_for
from mutator.activities.undo import inverse_payload, refused, state_data
from mutator.app import MutationApp, UnknownMutationError, ValidationRefused
from mutator.compensation_contracts import (
    CompensateItemInput,
    CompensateItemResult,
)
from mutator.lifecycle.compensation import later_versions
from mutator.models import CompensationMode
from mutator.store import CompareAndSetLost, FencedOut, StateChange, Store, VersionConflict


def compensate_item(
    app: MutationApp, store: Store, input: CompensateItemInput
) -> CompensateItemResult:
    """Undo ``input.item``'s applied change (``CompensationActivities.compensate_item``).

    Raises:
        ApplicationError: ``ERR_COMPENSATION_REFUSED``: neither restore (later versions) nor
            an inverse can undo it, or the undo was refused.
    """
    item = input.item
    made = item.resulting_version
    assert made is not None
    try:
        mutation = app.get(item.mutation)
    except UnknownMutationError as exc:
        raise refused(f"item {item.index}: {exc}") from exc
    before = state_data(store, item.state_id, made - 1)
    later = later_versions(made, store.current_version(item.state_id))
    mode: CompensationMode
    change: Callable[[StateData], StateData]
    if not later:
        mode = "restore"
        change = lambda _current: dict(before)  # noqa: E731 - the restored data, as it is
    elif mutation.inverse_of is not None:
        mode = "inverse"
        after = state_data(store, item.state_id, made)
        payload = inverse_payload(item.mutation, mutation.inverse_of, before, after, item.payload)
        change = change_for(mutation, payload)
    else:
        raise refused(
            f"item {item.index}: {item.state_id} has later versions "
            f"{', '.join(map(str, later))} and {item.mutation} declares no inverse"
        )
    step = StateChange(
        key=f"{input.request_id}#{item.index}:compensation",
        state_id=item.state_id,
        actor=input.requester,
        change=change,
        expected_version=made if mode == "restore" else None,
        fencing_token=input.token,
    )
    try:
        [version] = store.apply_changes([step], lambda _versions: None)
    except (VersionConflict, FencedOut, CompareAndSetLost) as exc:
        raise refused(f"item {item.index}: not undone: {exc}") from exc
    except (ValidationRefused, HandlerFailed) as exc:
        raise refused(f"item {item.index}: the inverse was refused: {exc}") from exc
    return CompensateItemResult(mode=mode, resulting_version=version)
