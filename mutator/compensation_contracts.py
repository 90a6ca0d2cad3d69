"""Inputs and results of planning a compensation (``mutator compensate``), on the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mutator.models import BatchItemResult, CompensationMode, MutationRequest

PLAN_COMPENSATION_ACTIVITY = "mutator.plan_compensation"
# The original cannot be compensated as asked (not executed, compensated already, later
# versions for restore, no inverse, ...): nothing is stored, the submit exits 1.
ERR_COMPENSATION_REFUSED = "CompensationRefused"


class PlanCompensationInput(BaseModel):
    """The compensation as submitted (``compensates`` and ``compensation_mode`` set).

    ``envelope``, ``signature``, ``submitted_at``: the submit's signature, checked before the
    original is touched (as the first evaluation checks it again).
    """

    request: MutationRequest
    envelope: dict[str, Any] | None = None
    signature: str | None = None
    submitted_at: datetime | None = None


class PlanCompensationResult(BaseModel):
    """What the compensation changes, planned from the original's record.

    Attributes:
        payload: ``restore``: the state's data before the original; ``inverse``: what the
            mutation's inverse returned.
        expected_version: ``restore``: the original's resulting version (the state must still
            be at it); ``inverse``: None, a forward correction applies to the latest state.
        planned: One line for the compensation's ``compensates`` decision.
    """

    payload: dict[str, Any]
    expected_version: int | None
    planned: str


COMPENSATE_ITEM_ACTIVITY = "mutator.compensate_item"


class CompensateItemInput(BaseModel):
    """Undo one applied item of a ``compensate_on_failure`` batch, under its lane's token."""

    request_id: str
    requester: str
    item: BatchItemResult
    token: int | None = None


class CompensateItemResult(BaseModel):
    """How the item was undone: ``restore`` or ``inverse``, and the state's new version."""

    mode: CompensationMode
    resulting_version: int
