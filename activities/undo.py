"""What undoing a change takes: the data before it, an inverse's payload, a refusal.

Shared by planning a compensation (compensation.py) and undoing a batch's items
(compensate_items.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from temporalio.exceptions import ApplicationError

from mutator.activities.outcomes import expected
from mutator.compensation_contracts import ERR_COMPENSATION_REFUSED
from mutator.diffs import StateDiff, state_diff
from mutator.models import MutationRequest, StateView
from mutator.store import Store

StateData = dict[str, Any]


def refused(message: str) -> ApplicationError:
    """The compensation cannot be submitted as asked: nothing is stored."""
    return expected(message, type=ERR_COMPENSATION_REFUSED)


def state_data(store: Store, state_id: str, version: int) -> StateData:
    """The state's data at ``version`` (``{}`` before its first version)."""
    found = store.get_state(state_id, version) if version > 0 else None
    return dict(found.data) if found else {}


def inverse_payload(
    name: str,
    inverse: Callable[[StateData, StateData, StateData], StateData],
    before: StateData,
    after: StateData,
    payload: StateData,
) -> StateData:
    """What the mutation ``name``'s inverse returns, checked: a JSON object.

    Raises:
        ApplicationError: ``ERR_COMPENSATION_REFUSED`` naming the mutation: it raised, or
            returned something else.
    """
    try:
        planned = inverse(before, after, dict(payload))
    except Exception as exc:
        raise refused(f"the inverse of {name} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(planned, dict):
        raise refused(f"the inverse of {name} returned {type(planned).__name__}, expected a dict")
    try:
        json.dumps(planned)
    except (TypeError, ValueError) as exc:
        raise refused(f"the inverse of {name} returned a payload that is not JSON: {exc}") from exc
    return planned


def restore_diff(restored: StateData, state: StateView | None) -> StateDiff:
    """A restore's planned diff: from ``state`` (as it is now) to the data it restores."""
    data = dict(state.data) if state else {}
    return state_diff(data, dict(restored), state.version if state else 0)


def compensation_change(
    req: MutationRequest, handler_change: Callable[[StateData], StateData]
) -> Callable[[StateData], StateData]:
    """The change a request applies: a ``restore`` sets the data it planned, as it is.

    A restore runs neither validators nor the handler: it returns the state to data the
    state held before. Any other request (an ``inverse`` too) runs ``handler_change``.
    """
    if req.compensation_mode != "restore":
        return handler_change
    restored = dict(req.payload)
    return lambda _current: dict(restored)
