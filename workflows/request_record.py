"""What every request workflow keeps: the request, its record, its lanes, its projection."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

from mutator.workflows.lane_session import LaneSession

with workflow.unsafe.imports_passed_through():
    from mutator import diffs, gates, lifecycle, metrics
    from mutator.contracts import (
        SAVE_REQUEST_ACTIVITY,
        RequestWorkflowResult,
        SaveRequestInput,
        SaveRequestResult,
    )
    from mutator.decisions import DecisionCode, SystemActor
    from mutator.lane_contracts import LaneGrant, LaneOutcome
    from mutator.models import (
        DecisionCategory,
        MutationRequest,
        PendingReason,
        RejectionCode,
        RequestStatus,
    )

STATUS_KEY = SearchAttributeKey.for_keyword("MutationStatus")

SAVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)


class RequestRecord:
    """The single writer of one request: every change is a decision and a saved revision."""

    request: MutationRequest
    save_lock: asyncio.Lock
    lanes: dict[str, LaneSession]

    def lane(self, state_id: str) -> LaneSession:
        """This request's session on the lane of ``state_id``, opened on first use."""
        if state_id not in self.lanes:
            self.lanes[state_id] = LaneSession(
                state_id, workflow.info().workflow_id, self.request.request_id
            )
        return self.lanes[state_id]

    # Only lanes this request joined: a stray message must not add sessions to its state.
    def on_lane_grant(self, grant: LaneGrant) -> None:
        """Pass a lane's grant to the session that waits for it."""
        if grant.state_id in self.lanes:
            self.lanes[grant.state_id].on_grant(grant)

    async def on_lane_outcome(self, outcome: LaneOutcome) -> None:
        """Pass the outcome of an execution a lane ran to the session that waits for it."""
        if outcome.state_id in self.lanes:
            await self.lanes[outcome.state_id].on_outcome(outcome)

    def decide(
        self, category: DecisionCategory, code: DecisionCode, actor: str, reason: str
    ) -> None:
        """Record a decision that does not change the status (``lifecycle.decide``)."""
        self.took(lifecycle.decide(self.request, category, code, actor, reason, workflow.now()))

    def set_status(
        self,
        status: RequestStatus,
        pending: PendingReason | None,
        code: DecisionCode,
        actor: str,
        reason: str,
    ) -> None:
        """Change the status, with its decision (``lifecycle.transition``)."""
        self.took(
            lifecycle.transition(self.request, status, pending, code, actor, reason, workflow.now())
        )

    def reject_with(
        self, code: RejectionCode, reason: str, actor: str = SystemActor.SYSTEM
    ) -> None:
        """Reject the request (``lifecycle.reject``)."""
        self.took(lifecycle.reject(self.request, code, reason, workflow.now(), actor))

    def fail(self, error: str) -> None:
        """Fail the request with ``error`` (``lifecycle.fail``)."""
        self.took(lifecycle.fail(self.request, error, workflow.now()))

    def took(self, effect: lifecycle.Effect) -> lifecycle.Effect:
        """Publish what a lifecycle step did: a status change is upserted and counted."""
        if effect.transition is not None:
            self.upsert_status()
        return effect

    def upsert_status(self) -> None:
        """Count the status, set it as a search attribute and show it in the UI."""
        workflow.metric_meter().create_counter(metrics.REQUESTS, "Request status transitions").add(
            1, {"status": self.request.status.value, "mutation": self.request.mutation}
        )
        # Started without search attributes (e.g. on a server that cannot register them).
        if workflow.info().typed_search_attributes.get(STATUS_KEY) is not None:
            workflow.upsert_search_attributes([STATUS_KEY.value_set(self.request.status.value)])
        self.show_progress()

    def show_progress(self) -> None:
        """Show the request's status, its outstanding gates and approvals as its details."""
        req = self.request
        lines = [
            f"**{req.status.value}**"
            + (f" ({req.pending_reason.value})" if req.pending_reason else "")
        ]
        if req.break_glass:
            lines.append(f"**BREAK-GLASS** declared by {req.requester}: {req.reason}")
        waiting = gates.describe(req.gates)
        if waiting:
            lines.append("waiting for:\n" + "\n".join(f"- {line}" for line in waiting))
        elif req.required_approvals:
            lines.append(lifecycle.progress(req))
        if req.approvals:
            lines.append("approved by " + ", ".join(a.actor for a in req.approvals))
        if req.rejection:
            lines.append(f"rejected ({req.rejection.code.value}): {req.rejection.reason}")
        if req.superseded_by:
            lines.append(f"superseded by {req.superseded_by}")
        if req.supersedes:
            lines.append("supersedes " + ", ".join(req.supersedes))
        if req.compensates:
            lines.append(f"compensates {req.compensates} ({req.compensation_mode})")
        if req.resulting_version is not None:
            lines.append(
                f"executed: state {req.state_id} is now at version {req.resulting_version}"
            )
        diff = req.applied_diff or req.planned_diff
        if diff is not None:
            kind = "applied" if req.applied_diff is not None else "planned"
            shown = diffs.describe(diff, limit=diffs.SHORT_DIFF_OPS)
            lines.append(f"{kind} change:\n" + "\n".join(f"- `{line}`" for line in shown))
        workflow.set_current_details("\n\n".join(lines))

    async def ended_unsaved(self, outcome: str) -> RequestWorkflowResult:
        """The result of a request refused before anything of it was stored (``rejected``)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RequestWorkflowResult(
            request_id=self.request.request_id,
            status=RequestStatus.REJECTED,
            resulting_version=None,
            outcome=outcome,
        )

    async def save(self) -> None:
        """Write the current request as the next revision; saves are serialized."""
        async with self.save_lock:
            snapshot = self.request.model_copy(deep=True)
            snapshot.revision = self.request.revision + 1
            await workflow.execute_local_activity(
                SAVE_REQUEST_ACTIVITY,
                SaveRequestInput(request=snapshot),
                result_type=SaveRequestResult,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=SAVE_RETRY,
            )
            self.request.revision = snapshot.revision
