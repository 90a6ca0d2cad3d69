"""Undoing the applied items of a sequential batch whose later item failed (a saga).

Each item is undone by ``restore`` while its change is still its state's latest version
(the data before it, expected at the version it made), else by its mutation's inverse (a
forward correction through validators and handler), else not at all: refused, named. The
undo is one more change of the state, recorded in its history as ``<request id>#<index>
:compensation`` (a retried activity finds it recorded and applies nothing again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio import activity

from mutator.activities.compensation import inverse_payload, refused, state_data
from mutator.activities.outcomes import HandlerFailed, StateData, change_for
from mutator.app import MutationApp, UnknownMutationError, ValidationRefused
from mutator.compensation_contracts import (
    COMPENSATE_ITEM_ACTIVITY,
    CompensateItemInput,
    CompensateItemResult,
)
from mutator.models import CompensationMode
from mutator.store import CompareAndSetLost, FencedOut, StateChange, Store, VersionConflict


class ItemCompensationActivities:
    """Compensating batch items, under the lane the batch workflow holds."""

    def __init__(self, app: MutationApp, store: Store) -> None:
        """Undo with ``app``'s mutations (their inverses), in ``store``."""
        self.app = app
        self.store = store

    def all(self) -> list[Any]:
        """The activities to register on the main task queue."""
        return [self.compensate_item]

    @activity.defn(name=COMPENSATE_ITEM_ACTIVITY)
    async def compensate_item(self, input: CompensateItemInput) -> CompensateItemResult:
        """Undo ``input.item``'s applied change.

        Raises:
            ApplicationError: ``ERR_COMPENSATION_REFUSED`` (not retried): neither restore
                (later versions) nor an inverse can undo it, or the undo was refused.
        """
        return await asyncio.to_thread(self._compensate, input)

    def _compensate(self, input: CompensateItemInput) -> CompensateItemResult:
        item = input.item
        made = item.resulting_version
        assert made is not None
        try:
            mutation = self.app.get(item.mutation)
        except UnknownMutationError as exc:
            raise refused(f"item {item.index}: {exc}") from exc
        before = state_data(self.store, item.state_id, made - 1)
        later = later_versions_of(self.store, item.state_id, made)
        mode: CompensationMode
        change: Callable[[StateData], StateData]
        if not later:
            mode = "restore"
            change = lambda _current: dict(before)  # noqa: E731 - the restored data, as it is
        elif mutation.inverse_of is not None:
            mode = "inverse"
            after = state_data(self.store, item.state_id, made)
            payload = inverse_payload(
                item.mutation, mutation.inverse_of, before, after, item.payload
            )
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
            [version] = self.store.apply_changes([step], lambda _versions: None)
        except (VersionConflict, FencedOut, CompareAndSetLost) as exc:
            raise refused(f"item {item.index}: not undone: {exc}") from exc
        except (ValidationRefused, HandlerFailed) as exc:
            raise refused(f"item {item.index}: the inverse was refused: {exc}") from exc
        return CompensateItemResult(mode=mode, resulting_version=version)


def later_versions_of(store: Store, state_id: str, made: int) -> list[int]:
    """The versions of ``state_id`` after ``made`` (empty: ``made`` is its latest)."""
    current = store.current_version(state_id)
    return list(range(made + 1, current + 1)) if current > made else []
