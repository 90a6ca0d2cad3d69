"""Batch items applied in one transaction under their lanes' tokens (a worker thread's part)."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.exceptions import ApplicationError

from mutator.activities.heartbeat import Stopwatch
from mutator.activities.outcomes import HandlerFailed, StateData, change_for, expected, users_bug
from mutator.activities.planning import diffed
from mutator.app import MutationApp, UnknownMutationError, ValidationRefused
from mutator.contracts import (
    ERR_FENCED_OUT,
    ERR_MUTATION_FAILED,
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    ExecuteItemsInput,
    ExecuteItemsResult,
)
from mutator.diffs import StateDiff, within
from mutator.models import BatchItemResult, ItemOutcome, MutationRequest
from mutator.store import CompareAndSetLost, FencedOut, StateChange, Store, VersionConflict

# A state written by many auto-approved requests at once: each lost compare-and-set
# re-reads and retries here, cheaper than a full activity retry.
MAX_CAS_ATTEMPTS = 50


class ItemError(Exception):
    """A batch item refused or failed; ``index`` says which, ``error_type`` how (an ERR_*)."""

    def __init__(self, index: int, error_type: str, message: str) -> None:
        """Say which item failed, how, and why."""
        super().__init__(f"item {index}: {message}")
        self.index = index
        self.error_type = error_type


def apply_items(
    app: MutationApp, store: Store, input: ExecuteItemsInput, stopwatch: Stopwatch
) -> ExecuteItemsResult:
    """Apply batch items in one transaction; a refused item raises with its index.

    Args:
        app: The mutations.
        store: The store the items apply to.
        input: The items, their states' fencing tokens and the request to store with them.
        stopwatch: Started here: the handler's time limit counts from now.

    Returns:
        Each item's resulting version, and the request as stored with the change.

    Raises:
        ApplicationError: An item was refused or failed; its details carry the item's index
            and its type the ERR_* kind.
    """
    stopwatch.start()
    # Each item's change as its handler made it, by item index (the last attempt's).
    made: dict[int, StateDiff] = {}
    changes = [_item_change(app, input, item, made) for item in input.items]
    stored: list[MutationRequest] = []

    def applied(versions: list[int]) -> list[StateDiff]:
        return within(
            [
                made[item.index].model_copy(update={"version": version - 1})
                for item, version in zip(input.items, versions, strict=True)
                if item.index in made
            ]
        )

    def finalize(versions: list[int]) -> MutationRequest | None:
        if input.request is None:
            return None
        final = input.request.model_copy(deep=True)
        by_index = {
            item.index: (v, d)
            for item, v, d in zip(input.items, versions, applied(versions), strict=True)
        }
        for item in final.items:
            if item.index in by_index:
                item.outcome = ItemOutcome.APPLIED
                item.resulting_version, item.applied_diff = by_index[item.index]
        stored.append(final)
        return final

    for _ in range(MAX_CAS_ATTEMPTS):
        try:
            versions = store.apply_changes(changes, finalize)
            # Recorded before (a retried attempt): no handler ran, no diff is known.
            diffs = applied(versions) if len(made) == len(versions) else []
            return ExecuteItemsResult(
                versions=versions, request=stored[0] if stored else None, diffs=diffs
            )
        except (ItemError, VersionConflict, FencedOut) as exc:
            raise _refusal(input, exc) from exc
        except CompareAndSetLost:
            if any(item.expected_version is not None for item in input.items):
                raise _item_failure(
                    input.items[0].index, ERR_VERSION_CONFLICT, "a state moved during execution"
                ) from None
            stored.clear()
    raise RuntimeError(f"compare-and-set lost {MAX_CAS_ATTEMPTS} times")


def _item_change(
    app: MutationApp, input: ExecuteItemsInput, item: BatchItemResult, made: dict[int, StateDiff]
) -> StateChange:
    try:
        mutation = app.get(item.mutation)
    except UnknownMutationError as exc:
        raise _item_failure(item.index, ERR_UNKNOWN_MUTATION, str(exc)) from exc
    change = change_for(mutation, item.payload)
    return StateChange(
        key=f"{input.request_id}#{item.index}",
        state_id=item.state_id,
        actor=input.requester,
        change=_with_index(item.index, diffed(change, made, item.index)),
        events=change.emitted(),
        expected_version=item.expected_version,
        fencing_token=input.tokens.get(item.state_id),
    )


def _refusal(
    input: ExecuteItemsInput, exc: ItemError | VersionConflict | FencedOut
) -> ApplicationError:
    # Which item the store refused, and why, as the workflow reads it.
    if isinstance(exc, ItemError):
        return _item_failure(exc.index, exc.error_type, str(exc.__cause__ or exc))
    if isinstance(exc, VersionConflict):
        return _item_failure(input.items[exc.index].index, ERR_VERSION_CONFLICT, str(exc))
    index = next(i.index for i in input.items if i.state_id == exc.state_id)
    return _item_failure(index, ERR_FENCED_OUT, str(exc))


def _with_index(
    index: int, change: Callable[[StateData], StateData]
) -> Callable[[StateData], StateData]:
    def indexed(data: StateData) -> StateData:
        try:
            return change(data)
        except ValidationRefused as exc:
            raise ItemError(index, ERR_VALIDATION, str(exc)) from exc
        except HandlerFailed as exc:
            raise ItemError(index, ERR_MUTATION_FAILED, str(exc)) from exc

    return indexed


def _item_failure(index: int, kind: str, message: str) -> ApplicationError:
    if kind == ERR_MUTATION_FAILED:
        return users_bug(message, index, type=kind)
    return expected(message, index, type=kind)
