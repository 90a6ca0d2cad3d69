"""Side effects of a request: policy evaluation, execution, projection.

Version resolution is in ``version_resolution.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mutator.activities.apply_request import apply_request, current_schedule
from mutator.activities.batch_items import apply_items
from mutator.activities.effects import deliver_request_effects, start_effects_delivery
from mutator.activities.evaluation import (
    evaluate_request,
    executed_earlier,
    policy_context,
    run_policies,
)
from mutator.activities.execution_record import executed_record
from mutator.activities.heartbeat import HandlerTimedOut, Stopwatch, run_heartbeating
from mutator.activities.lane_activities import LaneActivities
from mutator.activities.outcomes import (
    expected,
    log_outcome,
    users_bug,
)
from mutator.activities.planning import plan_change
from mutator.activities.signatures import check_submission, verify_submit, verify_vote
from mutator.activities.undo import restore_diff
from mutator.app import MutationApp, UnknownMutationError
from mutator.contracts import (
    CHECK_SCHEDULE_ACTIVITY,
    ERR_HANDLER_TIMEOUT,
    ERR_OWNER_GONE,
    ERR_UNKNOWN_MUTATION,
    EVALUATE_ACTIVITY,
    EXECUTE_ACTIVITY,
    EXECUTE_ITEMS_ACTIVITY,
    SAVE_REQUEST_ACTIVITY,
    VERIFY_SUBMIT_ACTIVITY,
    VERIFY_VOTE_ACTIVITY,
    CheckScheduleInput,
    CheckScheduleResult,
    EvaluateInput,
    EvaluateResult,
    ExecuteInput,
    ExecuteItemsInput,
    ExecuteItemsResult,
    ExecuteResult,
    SaveRequestInput,
    SaveRequestResult,
    VerifySubmitInput,
    VerifyVoteInput,
    VerifyVoteResult,
)
from mutator.decisions import EvaluationOutcome
from mutator.diffs import StateDiff
from mutator.lane_contracts import (
    AcquireLaneInput,
    LaneOutcome,
    closed_schedule,
    exceeded_quota,
)
from mutator.models import MutationRequest, StateView
from mutator.mutations import Mutation
from mutator.policies import PolicyContext
from mutator.store import Store


class RequestActivities:
    """A request's evaluation (which may execute it directly), execution and projection."""

    def __init__(
        self,
        app: MutationApp,
        store: Store,
        lanes: LaneActivities,
        executor: concurrent.futures.Executor | None = None,
        *,
        webhooks: bool = False,
    ) -> None:
        """Run ``app``'s code against ``store``; handlers and writes run on ``executor``.

        ``webhooks``: this worker has a webhook; the evaluation says so to the request.
        """
        self.app = app
        self.store = store
        self.lanes = lanes
        self.webhooks = webhooks
        # Threads for the handler and the write of the (async) execution activity.
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(max_workers=10)

    @property
    def limit(self) -> float:
        """The handler's own time limit per attempt."""
        return self.lanes.settings.execution_timeout_seconds

    @activity.defn(name=EVALUATE_ACTIVITY)
    async def evaluate(self, input: EvaluateInput) -> EvaluateResult:
        """Policies and validators, and what follows when they allow at once.

        With ``join_lane_if_allowed``, an allowed request then executes at once when its
        state is free, or else joins the state's lane. With ``check_submit``, the submit's
        signature is checked first: refused, nothing is evaluated or executed. The result
        also says whether this worker has a webhook (``webhooks``).
        """
        result = await self._evaluate_request(input)
        result.webhooks = self.webhooks
        if result.executed is not None and result.executed.request is not None:
            await deliver_request_effects(self.app, self.store, result.executed.request)
        return result

    async def _evaluate_request(self, input: EvaluateInput) -> EvaluateResult:
        owner = activity.info().workflow_id or ""
        retry = activity.info().attempt > 1
        if input.join_lane_if_allowed and retry:
            recorded = await asyncio.to_thread(self._recorded, input.request.request_id)
            if recorded is not None:
                # An earlier attempt executed it directly: report that, do not evaluate again.
                return self._with_supersede(executed_earlier(input.request, recorded), input)
        input, refused = check_submission(self.app, input)
        if refused is not None:
            return refused
        result = await self._evaluate_admitted(input, owner, retry=retry)
        if input.check_submit:
            # For the ``submitted`` decision (a request executed directly stored it already).
            result.proof = next((d.proof for d in input.request.decisions if d.proof), None)
        return self._with_supersede(result, input)

    def _with_supersede(self, result: EvaluateResult, input: EvaluateInput) -> EvaluateResult:
        """Say whether the (single) request's mutation declares ``supersede=True``."""
        req = input.request
        if not req.items and req.mutation in self.app.mutations:
            result.supersede = self.app.mutations[req.mutation].supersede
        return result

    async def _evaluate_admitted(
        self, input: EvaluateInput, owner: str, *, retry: bool
    ) -> EvaluateResult:
        req = input.request
        # An async policy may wait on a service: not while holding the state's claim.
        waits = self.app.has_async_policies(req.mutation)
        if (
            input.join_lane_if_allowed
            and not req.items
            and req.expected_version is None
            and not waits
        ):
            direct = await self._evaluate_directly(req, owner, retry=retry)
            if direct is not None:
                return direct
        # Policies and validators are user code: run them off the event loop (not in the
        # execution threads, which are as many as the execution slots).
        result = await run_heartbeating(
            None,
            lambda _: self._evaluate(input),
            limit=None,
            what=f"evaluation of {req.request_id}",
        )
        if (
            input.join_lane_if_allowed
            and result.outcome == EvaluationOutcome.ALLOW
            and not req.items
        ):
            await self.lanes.join(
                AcquireLaneInput(
                    state_id=req.state_id,
                    owner=owner,
                    request_id=req.request_id,
                    executes=True,
                    task_queue=input.task_queue,
                )
            )
            result.lane_requested = True
        return result

    def _recorded(self, request_id: str) -> MutationRequest | None:
        """The request as its execution stored it, if it was executed."""
        recorded = self.store.get_request(request_id)
        if recorded is None or recorded.resulting_version is None:
            return None
        return recorded

    async def _evaluate_directly(
        self, req: MutationRequest, owner: str, *, retry: bool
    ) -> EvaluateResult | None:
        """Execute at once on a free state, heartbeating and within the handler's limit.

        See ``_claim_and_execute``. ``retry``: an earlier attempt may still be running on a
        worker that stopped answering; this one claims the state under a new token.
        """
        try:
            return await run_heartbeating(
                self.executor,
                lambda stopwatch: self._claim_and_execute(req, owner, stopwatch, retry=retry),
                limit=self.limit,
                what=f"direct execution of {req.request_id}",
            )
        except HandlerTimedOut as exc:
            # Fence the abandoned attempt out; had it committed just before, report that.
            await asyncio.to_thread(self.store.release_direct, req.state_id, owner)
            recorded = await asyncio.to_thread(self._recorded, req.request_id)
            if recorded is not None:
                return executed_earlier(req, recorded)
            message = f"{exc}: not applied, and its fencing token is refused from now on"
            log_outcome(logging.WARNING, message, ERR_HANDLER_TIMEOUT)
            return EvaluateResult(
                outcome=EvaluationOutcome.ALLOW,
                state_version=0,
                executed=LaneOutcome(
                    state_id=req.state_id, token=0, error_type=ERR_HANDLER_TIMEOUT, error=message
                ),
            )

    def _claim_and_execute(
        self, req: MutationRequest, owner: str, stopwatch: Stopwatch, *, retry: bool
    ) -> EvaluateResult | None:
        """Claim the state if it is free, evaluate on it and, if allowed, execute at once.

        Policies see the state as it is under the claim. None: the state is in use
        (evaluate, then join the lane).
        """
        claimed = self.store.claim_direct_reading(
            req.state_id, owner, self.lanes.settings.direct_claim_seconds, fresh_token=retry
        )
        if claimed is None:
            return None
        token, state, head = claimed
        try:
            # Not planned when allowed: its execution below runs the handler once, and
            # records that change as both its planned and its applied diff.
            result = self._evaluate_single(req, state, plan=False)
            if result.outcome == EvaluationOutcome.REQUIRE_APPROVALS:
                result.planned_diff = self._plan(req, state)
        except BaseException:
            self.store.release_direct(req.state_id, owner, token)
            raise
        if result.outcome != EvaluationOutcome.ALLOW:
            self.store.release_direct(req.state_id, owner, token)
            return result
        record = executed_record(
            req,
            token=token,
            granted_at=datetime.now(UTC),
            expected_version=None,
            direct=True,
            warnings=result.warnings,
        )
        stopwatch.start()
        try:
            executed = apply_request(
                self.app,
                self.store,
                ExecuteInput(
                    request=record, expected_version=None, fencing_token=token, claim_owner=owner
                ),
                known_state=(state.version, state.data, head) if state else (0, {}, None),
            )
        except ApplicationError as exc:
            self.store.release_direct(req.state_id, owner, token)
            result.executed = LaneOutcome(
                state_id=req.state_id,
                token=token,
                error_type=exc.type or "",
                error=str(exc),
                schedule=closed_schedule(exc.type, exc.details),
                quota=exceeded_quota(exc.type, exc.details),
            )
        else:
            if retry:
                # Recorded by the attempt given up on: its claim row is ours to remove.
                self.store.release_direct(req.state_id, owner, token)
            result.executed = LaneOutcome(
                state_id=req.state_id, token=token, request=executed.request
            )
        return result

    def _evaluate(self, input: EvaluateInput) -> EvaluateResult:
        req = input.request
        if req.items:
            contexts = [self._context(req, i.state_id, i.mutation, i.payload) for i in req.items]
            evaluation = run_policies(lambda: self.app.evaluate_batch(contexts))
            return EvaluateResult(
                outcome=evaluation.outcome,
                reason=evaluation.reason,
                requirements=evaluation.requirements,
                checks=evaluation.checks,
                overrides=evaluation.overrides,
                warnings=evaluation.warnings,
                state_version=0,
                on_stale="reject",
                item_versions=[ctx.version for ctx in contexts],
            )
        return self._evaluate_single(req, self.store.get_state(req.state_id))

    def _evaluate_single(
        self, req: MutationRequest, state: StateView | None, *, plan: bool = True
    ) -> EvaluateResult:
        """Validators and policies on ``state``; with ``plan``, the handler's change too.

        The change is planned only for a request that waits for approvals or checks.
        """
        mutation = self._mutation(req)
        ctx = policy_context(req, req.state_id, req.mutation, req.payload, state)
        evaluation = evaluate_request(self.app, req, ctx)
        result = EvaluateResult(
            outcome=evaluation.outcome,
            reason=evaluation.reason,
            requirements=evaluation.requirements,
            checks=evaluation.checks,
            overrides=evaluation.overrides,
            warnings=evaluation.warnings,
            state_version=ctx.version,
            # A restore applies only on the version the original made: never on a later one.
            on_stale="reject" if req.compensation_mode == "restore" else mutation.on_stale,
        )
        if plan and result.outcome == EvaluationOutcome.REQUIRE_APPROVALS:
            result.planned_diff = self._plan(req, state)
        return result

    def _mutation(self, req: MutationRequest) -> Mutation:
        try:
            return self.app.get(req.mutation)
        except UnknownMutationError as exc:
            raise expected(str(exc), type=ERR_UNKNOWN_MUTATION) from exc

    def _plan(self, req: MutationRequest, state: StateView | None) -> StateDiff:
        """The request's handler run on ``state``, for its planned diff (nothing stored).

        A restore runs no handler: its diff is from ``state`` to the data it restores.
        """
        if req.compensation_mode == "restore":
            return restore_diff(req.payload, state)
        return plan_change(self._mutation(req), req.payload, state)

    def _context(
        self, req: MutationRequest, state_id: str, mutation: str, payload: dict[str, Any]
    ) -> PolicyContext:
        """What a policy sees: the request and the state as it is now."""
        return policy_context(req, state_id, mutation, payload, self.store.get_state(state_id))

    @activity.defn(name=EXECUTE_ACTIVITY)
    async def execute(self, input: ExecuteInput) -> ExecuteResult:
        """Apply the request's change; the handler and the write run in a thread.

        Heartbeats while it runs (a lost worker is noticed within the heartbeat timeout),
        and gives up once the handler runs past its limit.
        """
        if input.lane_owner is not None and input.fencing_token is not None:
            await self._check_owner_runs(input.lane_owner)
        if input.granted_at is not None:
            input = input.model_copy(
                update={
                    "request": executed_record(
                        input.request,
                        token=input.fencing_token,
                        granted_at=input.granted_at,
                        expected_version=input.expected_version,
                    )
                }
            )
        run = input
        try:
            result = await run_heartbeating(
                self.executor,
                lambda stopwatch: apply_request(self.app, self.store, run, stopwatch=stopwatch),
                limit=self.limit,
                what=f"execution of {input.request.request_id}",
            )
            await deliver_request_effects(self.app, self.store, result.request)
            return result
        except HandlerTimedOut as exc:
            state_id = input.request.state_id
            if input.fencing_token is not None:
                # Fence the abandoned attempt out; had it committed just before, report that.
                await asyncio.to_thread(self.store.advance_fence, state_id, input.fencing_token + 1)
            recorded = await asyncio.to_thread(self._recorded, input.request.request_id)
            if recorded is not None:
                await deliver_request_effects(self.app, self.store, recorded)
                return ExecuteResult(request=recorded)
            raise users_bug(f"{exc}: not applied", type=ERR_HANDLER_TIMEOUT) from exc

    async def _check_owner_runs(self, owner: str) -> None:
        """A request whose workflow was terminated while it waited is not executed."""
        if activity.info().attempt > 1:
            return  # checked on the first attempt; a retry may have applied already
        try:
            described = await activity.client().get_workflow_handle(owner).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            described = None
        if described is None or described.status != WorkflowExecutionStatus.RUNNING:
            status = described.status.name.lower() if described and described.status else "gone"
            raise expected(
                f"the request's workflow {owner} is {status}: not executed", type=ERR_OWNER_GONE
            )

    @activity.defn(name=VERIFY_VOTE_ACTIVITY)
    def verify_vote(self, input: VerifyVoteInput) -> VerifyVoteResult:
        """Check a signalled vote's signature, or its absence, under the app's identity."""
        return verify_vote(self.app, input)

    @activity.defn(name=VERIFY_SUBMIT_ACTIVITY)
    def verify_submit(self, input: VerifySubmitInput) -> VerifyVoteResult:
        """Check a submit's signature, or its absence, before the request waits (dependencies)."""
        result = verify_submit(self.app, input)
        result.webhooks = self.webhooks
        return result

    @activity.defn(name=SAVE_REQUEST_ACTIVITY)
    def save_request(self, input: SaveRequestInput) -> SaveRequestResult:
        """Write the request's next revision to the SQL projection."""
        self.store.save_request(input.request)
        return SaveRequestResult(revision=input.request.revision)

    @activity.defn(name=EXECUTE_ITEMS_ACTIVITY)
    async def execute_items(self, input: ExecuteItemsInput) -> ExecuteItemsResult:
        """Apply batch items in one transaction; a refused item raises with its index."""
        try:
            result = await run_heartbeating(
                self.executor,
                lambda stopwatch: apply_items(self.app, self.store, input, stopwatch),
                limit=self.lanes.settings.execution_timeout_seconds,
                what=f"batch {input.request_id}",
            )
        except HandlerTimedOut as exc:
            # Its lanes' tokens go: the abandoned attempt cannot apply any more.
            for state_id, token in input.tokens.items():
                await asyncio.to_thread(self.store.advance_fence, state_id, token + 1)
            raise users_bug(
                f"{exc}: not applied",
                input.items[0].index if input.items else -1,
                type=ERR_HANDLER_TIMEOUT,
            ) from exc
        items = [(f"{input.request_id}#{i.index}", i.mutation) for i in input.items]
        await start_effects_delivery(self.app, self.store, input.request_id, items)
        return result

    @activity.defn(name=CHECK_SCHEDULE_ACTIVITY)
    def check_schedule(self, input: CheckScheduleInput) -> CheckScheduleResult:
        """The request's schedule now: read before it waits (a freeze may have ended)."""
        return CheckScheduleResult(schedule=current_schedule(self.app, self.store, input.request))

    def all(self) -> list[Any]:
        """The activities on the main task queue.

        Not the execution, which runs on its own, slot-limited task queue, nor version
        resolution (``VersionResolutionActivities``).
        """
        return [
            self.evaluate,
            self.save_request,
            self.verify_vote,
            self.verify_submit,
            self.check_schedule,
        ]

    def execution(self) -> list[Any]:
        """The activities on the slot-limited execution task queue.

        A request's first evaluation runs there too, since it may execute the request
        directly.
        """
        return [self.evaluate, self.execute, self.execute_items]
