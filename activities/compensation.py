"""Compensation's side effects: planning it from the original's record, and ending the original.

``mutator.plan_compensation`` runs first in a compensation's workflow, before its policies:
it checks the original can be compensated as asked, computes the payload (the data before
the original for ``restore``, the mutation's inverse for ``inverse``) and links the original
(``compensated_by``). The original's workflow has completed, so the compensation is the
single writer of the original's row from then on: this link, and the ``compensated`` status
its execution stores in the transaction of its change (``ending_original``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from mutator import lifecycle
from mutator.activities.compensate_items import compensate_item
from mutator.activities.signatures import submit_refusal
from mutator.activities.undo import inverse_payload, refused, state_data
from mutator.app import MutationApp, UnknownMutationError
from mutator.compensation_contracts import (
    COMPENSATE_ITEM_ACTIVITY,
    PLAN_COMPENSATION_ACTIVITY,
    CompensateItemInput,
    CompensateItemResult,
    PlanCompensationInput,
    PlanCompensationResult,
)
from mutator.lifecycle.compensation import (
    compensated,
    compensation_refusal,
)
from mutator.models import MutationRequest
from mutator.store import Store

StateData = dict[str, Any]


class CompensationActivities:
    """Planning compensations: reads the original's record, links it, computes the payload."""

    def __init__(self, app: MutationApp, store: Store) -> None:
        """Plan against ``app``'s mutations (their inverses) and ``store``'s records."""
        self.app = app
        self.store = store

    def all(self) -> list[Any]:
        """The activities to register on the main task queue."""
        return [self.plan_compensation, self.compensate_item]

    @activity.defn(name=COMPENSATE_ITEM_ACTIVITY)
    async def compensate_item(self, input: CompensateItemInput) -> CompensateItemResult:
        """Undo an applied item of a ``compensate_on_failure`` batch (compensate_items.py).

        Raises:
            ApplicationError: ``ERR_COMPENSATION_REFUSED`` (not retried) naming why.
        """
        return await asyncio.to_thread(compensate_item, self.app, self.store, input)

    @activity.defn(name=PLAN_COMPENSATION_ACTIVITY)
    async def plan_compensation(self, input: PlanCompensationInput) -> PlanCompensationResult:
        """Check, plan and link the compensation ``input.request``.

        Raises:
            ApplicationError: ``ERR_COMPENSATION_REFUSED`` (not retried) naming why.
        """
        return await asyncio.to_thread(self._plan, input)

    def _plan(self, input: PlanCompensationInput) -> PlanCompensationResult:
        req = input.request
        assert req.compensates is not None
        assert req.compensation_mode is not None
        # An unverified actor never touches the original (signed mode, or a signed submit).
        unsigned = submit_refusal(
            self.app, req, input.envelope, input.signature, input.submitted_at
        )
        if unsigned is not None:
            raise refused(f"the compensate's signature is refused: {unsigned}")
        original = self.store.get_request(req.compensates)
        if original is None:
            raise refused(f"compensates: no request with id {req.compensates!r}")
        if (req.state_id, req.mutation) != (original.state_id, original.mutation):
            raise refused(
                f"compensates: request {original.request_id} changed {original.mutation} on "
                f"{original.state_id}, not {req.mutation} on {req.state_id}"
            )
        try:
            inverse = self.app.get(original.mutation).inverse_of
        except UnknownMutationError as exc:
            raise refused(str(exc)) from exc
        linked = (
            self.store.get_request(original.compensated_by)
            if original.compensated_by not in (None, req.request_id)
            else None
        )
        refusal = compensation_refusal(
            original,
            req.request_id,
            req.compensation_mode,
            linked=linked,
            current_version=self.store.current_version(original.state_id),
            has_inverse=inverse is not None,
        )
        if refusal is not None:
            raise refused(refusal)
        made = original.resulting_version
        assert made is not None
        before = state_data(self.store, original.state_id, made - 1)
        if req.compensation_mode == "restore":
            planned = PlanCompensationResult(
                payload=before,
                expected_version=made,
                planned=f"restore {original.state_id} to its data of version {made - 1}",
            )
        else:
            after = state_data(self.store, original.state_id, made)
            assert inverse is not None
            planned = PlanCompensationResult(
                payload=inverse_payload(
                    original.mutation, inverse, before, after, original.payload
                ),
                expected_version=None,
                planned=f"the inverse of {original.mutation} from version {made}",
            )
        self._link(original, req)
        return planned

    def _link(self, original: MutationRequest, req: MutationRequest) -> None:
        """Store ``compensated_by`` on the original; refuse if another compensation won."""
        if lifecycle.link_compensation(original, req, datetime.now(UTC)).decisions:
            original.revision += 1
            self.store.save_request(original)
        stored = self.store.get_request(original.request_id)
        if stored is None or stored.compensated_by != req.request_id:
            by = stored.compensated_by if stored else None
            raise refused(
                f"request {original.request_id} has a compensation under way: {by} "
                "(submitted at the same time)"
            )


def ending_original(
    store: Store, req: MutationRequest
) -> Callable[[MutationRequest], MutationRequest] | None:
    """For a compensation: the original as its execution leaves it (``compensated``).

    The store calls it in the transaction of the compensation's change, with the
    compensation as stored; None for any other request.

    Raises:
        ApplicationError: ``ERR_COMPENSATION_REFUSED``: the original is no longer there.
    """
    if req.compensates is None:
        return None
    original = store.get_request(req.compensates)
    if original is None:
        raise refused(f"compensates: no request with id {req.compensates!r}")

    def end(final: MutationRequest) -> MutationRequest:
        ended = original.model_copy(deep=True)
        try:
            compensated(ended, final, datetime.now(UTC))
        except lifecycle.IllegalTransition as exc:
            raise refused(str(exc)) from exc
        ended.revision += 1
        return ended

    return end
