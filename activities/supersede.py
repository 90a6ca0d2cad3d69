"""Supersede's side effects: asking the older requests to end, and checking who asks.

``mutator.supersede_older`` runs in the newer request's workflow once its policies admitted
it: it finds the older ``pending`` or ``approved`` requests of the same state and mutation in
the store and sends each the ``supersede`` update; each older workflow decides for itself,
atomically with its own start of execution. ``mutator.verify_supersede`` runs in the older
request's workflow before it decides: the asking request must be stored, newer, for the same
state and mutation, admitted, and its mutation must declare ``supersede=True``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from mutator import lifecycle
from mutator.app import MutationApp
from mutator.contracts import request_workflow_id
from mutator.store import Store
from mutator.store.supersede import older_candidates
from mutator.supersede_contracts import (
    SUPERSEDE_OLDER_ACTIVITY,
    SUPERSEDE_UPDATE,
    VERIFY_SUPERSEDE_ACTIVITY,
    SupersedeInput,
    SupersedeOlderInput,
    SupersedeOlderResult,
    SupersedeResult,
    VerifySupersedeInput,
    VerifySupersedeResult,
)

logger = logging.getLogger("mutator.supersede")


class SupersedeActivities:
    """``mutator.supersede_older`` and ``mutator.verify_supersede``."""

    def __init__(self, app: MutationApp, store: Store) -> None:
        """Read requests from ``store``; ``app`` says which mutations supersede."""
        self.app = app
        self.store = store

    @activity.defn(name=SUPERSEDE_OLDER_ACTIVITY)
    async def supersede_older(self, input: SupersedeOlderInput) -> SupersedeOlderResult:
        """Ask every older candidate to end; report which did.

        A retried attempt asks again: an older request already superseded by this one
        answers so again.
        """
        candidates = await asyncio.to_thread(
            older_candidates,
            self.store.database,
            state_id=input.state_id,
            mutation=input.mutation,
            created_at=input.created_at,
            request_id=input.request_id,
        )
        result = SupersedeOlderResult()
        for older in candidates:
            activity.heartbeat(older)
            answer = await self._ask(older, input.request_id)
            if answer.superseded:
                result.superseded.append(older)
            else:
                result.kept.append(f"{older}: {answer.reason}")
        logger.info(
            "%s superseded %s (kept: %s)",
            input.request_id,
            ", ".join(result.superseded) or "none",
            "; ".join(result.kept) or "none",
        )
        return result

    async def _ask(self, older: str, by: str) -> SupersedeResult:
        handle = activity.client().get_workflow_handle(request_workflow_id(older))
        try:
            answer: SupersedeResult = await handle.execute_update(
                SUPERSEDE_UPDATE, SupersedeInput(by=by), result_type=SupersedeResult
            )
        except WorkflowUpdateFailedError as exc:
            return SupersedeResult(request_id=older, superseded=False, reason=str(exc.cause))
        except RPCError as exc:
            # Ended since it was listed (its workflow completed): nothing to supersede.
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            return SupersedeResult(request_id=older, superseded=False, reason=exc.message)
        return answer

    @activity.defn(name=VERIFY_SUPERSEDE_ACTIVITY)
    async def verify_supersede(self, input: VerifySupersedeInput) -> VerifySupersedeResult:
        """Whether ``input.by``, as stored, may supersede ``input.request``."""
        newer = await asyncio.to_thread(self.store.get_request, input.by)
        declared = input.request.mutation in self.app.mutations and (
            self.app.mutations[input.request.mutation].supersede
        )
        refusal = lifecycle.authority_refusal(input.request, newer, declared=declared)
        return VerifySupersedeResult(refusal=refusal)

    def all(self) -> list[Any]:
        """The activities to register on the main task queue."""
        return [self.supersede_older, self.verify_supersede]
