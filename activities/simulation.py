"""``mutator.simulate``: validators, policies and the handler on a state, nothing written.

It reads the state from the store and runs the app's code as the first evaluation of a
request would (break-glass aside), then the handler on a copy of the state.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from mutator.activities.evaluation import evaluate_request, policy_context
from mutator.activities.outcomes import expected
from mutator.activities.planning import plan_change, try_change
from mutator.app import MutationApp, UnknownMutationError
from mutator.contracts import ERR_UNKNOWN_MUTATION
from mutator.decisions import EvaluationOutcome
from mutator.lifecycle.notifications import eligible_approvers
from mutator.models import MutationRequest, RequestStatus, StateView
from mutator.simulate_contracts import (
    PLAN_ACTIVITY,
    SIMULATE_ACTIVITY,
    PlanInput,
    PlanResult,
    SimulateInput,
    SimulateResult,
)
from mutator.store import Store


class SimulationActivities:
    """The dry-run's activity, on the main task queue (it applies nothing)."""

    def __init__(self, app: MutationApp, store: Store) -> None:
        """Run ``app``'s code on states read from ``store`` (never written)."""
        self.app = app
        self.store = store

    @activity.defn(name=SIMULATE_ACTIVITY)
    async def simulate(self, input: SimulateInput) -> SimulateResult:
        """What submitting the mutation now would do, and the change it would make."""
        state = await asyncio.to_thread(self.store.get_state, input.state_id)
        # Policies and handlers are user code: off the event loop.
        return await asyncio.to_thread(self._simulate, input, state)

    def _simulate(self, input: SimulateInput, state: StateView | None) -> SimulateResult:
        try:
            mutation = self.app.get(input.mutation)
        except UnknownMutationError as exc:
            raise expected(str(exc), type=ERR_UNKNOWN_MUTATION) from exc
        now = datetime.now(UTC)
        req = MutationRequest(
            request_id="dry-run",
            state_id=input.state_id,
            mutation=input.mutation,
            payload=input.payload,
            requester=input.requester,
            reason=input.reason,
            status=RequestStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        ctx = policy_context(req, input.state_id, input.mutation, input.payload, state)
        evaluation = evaluate_request(self.app, req, ctx)
        req.required_approvals = evaluation.requirements
        result = SimulateResult(
            outcome=evaluation.outcome,
            reason=evaluation.reason,
            requirements=evaluation.requirements,
            checks=evaluation.checks,
            overrides=evaluation.overrides,
            warnings=evaluation.warnings,
            eligible_approvers=eligible_approvers(req),
            state_version=ctx.version,
        )
        if evaluation.outcome == EvaluationOutcome.INVALID:
            return result
        result.data, result.diff = try_change(mutation, input.payload, state)
        return result

    @activity.defn(name=PLAN_ACTIVITY)
    async def plan_change(self, input: PlanInput) -> PlanResult:
        """The request's change on its state as it is now, for its planned diff.

        Used when the approvals are asked again (``on_stale="reapprove"``): the approvers
        see the change on the new base version, not the old one.
        """
        req = input.request
        state = await asyncio.to_thread(self.store.get_state, req.state_id)
        mutation = self.app.mutations.get(req.mutation)
        if mutation is None:
            return PlanResult()
        diff = await asyncio.to_thread(plan_change, mutation, req.payload, state)
        return PlanResult(planned_diff=diff)

    def all(self) -> list[Any]:
        """The activities on the main task queue."""
        return [self.simulate, self.plan_change]
