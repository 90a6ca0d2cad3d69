"""Side effects of a request: policy evaluation, version resolution, execution, projection."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from activities.execution_record import executed_record
from activities.lane_activities import LaneActivities
from mutator import metrics
from mutator.app import (
    Evaluation,
    Mutation,
    MutationApp,
    UnknownMutationError,
    ValidationRefused,
)
from mutator.contracts import (
    ERR_FENCED_OUT,
    ERR_MUTATION_FAILED,
    ERR_OWNER_GONE,
    ERR_POLICY_FAILED,
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    EVALUATE_ACTIVITY,
    EXECUTE_ACTIVITY,
    EXECUTE_ITEMS_ACTIVITY,
    RESOLVE_VERSIONS_ACTIVITY,
    SAVE_REQUEST_ACTIVITY,
    EvaluateInput,
    EvaluateResult,
    ExecuteInput,
    ExecuteItemsInput,
    ExecuteItemsResult,
    ExecuteResult,
    ResolveVersionInput,
    ResolveVersionResult,
    ResolveVersionsInput,
    ResolveVersionsResult,
    SaveRequestInput,
    SaveRequestResult,
)
from mutator.lane_contracts import AcquireLaneInput, LaneOutcome
from mutator.models import ItemOutcome, MutationRequest, StateView
from mutator.policies import PolicyContext
from mutator.store import CompareAndSetLost, FencedOut, StateChange, Store, VersionConflict

StateData = dict[str, Any]

# A state written by many auto-approved requests at once: each lost compare-and-set
# re-reads and retries here, cheaper than a full activity retry.
MAX_CAS_ATTEMPTS = 50


class HandlerFailed(Exception):
    """The user's mutation handler raised or returned something that is not a JSON object."""


def _change_for(mutation: Mutation, payload: dict[str, Any]) -> Callable[[StateData], StateData]:
    """Validators, then the handler, on the state the change applies to."""

    def change(data: StateData) -> StateData:
        mutation.validate(data, payload)
        try:
            new = mutation(data, payload)
        except CancelledError:
            raise  # the worker is shutting down or the activity was canceled: not a failure
        except Exception as exc:
            raise HandlerFailed(f"{mutation.name} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(new, dict):
            raise HandlerFailed(
                f"{mutation.name} returned {type(new).__name__}, expected a dict (the new state)"
            )
        try:
            json.dumps(new)
        except (TypeError, ValueError) as exc:
            raise HandlerFailed(
                f"{mutation.name} returned a state that is not JSON: {exc}"
            ) from exc
        return new

    return change


class ItemError(Exception):
    """A batch item refused or failed; ``index`` says which."""

    def __init__(self, index: int, kind: str, message: str) -> None:
        super().__init__(f"item {index}: {message}")
        self.index = index
        self.kind = kind


class RequestActivities:
    def __init__(
        self,
        app: MutationApp,
        store: Store,
        lanes: LaneActivities,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.lanes = lanes
        # Threads for the handler and the write of the (async) execution activity.
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(max_workers=10)

    @activity.defn(name=EVALUATE_ACTIVITY)
    async def evaluate(self, input: EvaluateInput) -> EvaluateResult:
        """Policies and validators; with ``join_lane_if_allowed``, an allowed request then
        executes at once when its state is free, or else joins the state's lane."""
        req = input.request
        owner = activity.info().workflow_id or ""
        if input.join_lane_if_allowed and activity.info().attempt > 1:
            recorded = await asyncio.to_thread(self.store.get_request, req.request_id)
            if recorded is not None and recorded.resulting_version is not None:
                # An earlier attempt executed it directly: report that, do not evaluate again.
                return EvaluateResult(
                    outcome="allow",
                    state_version=recorded.resulting_version - 1,
                    executed=LaneOutcome(state_id=req.state_id, token=0, request=recorded),
                )
        if input.join_lane_if_allowed and not req.items and req.expected_version is None:
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()
            direct = await loop.run_in_executor(
                self.executor, context.run, self._evaluate_directly, req, owner
            )
            if direct is not None:
                return direct
        # Policies and validators are user code: run them off the event loop.
        result = await asyncio.to_thread(self._evaluate, input)
        if input.join_lane_if_allowed and result.outcome == "allow" and not req.items:
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

    def _evaluate_directly(self, req: MutationRequest, owner: str) -> EvaluateResult | None:
        """Claim the state if it is free, evaluate on it as it is under the claim and, if
        allowed, execute at once. None: the state is in use (evaluate, then join the lane)."""
        lease = self.lanes.settings.execution_timeout_seconds
        claimed = self.store.claim_direct_reading(req.state_id, owner, lease)
        if claimed is None:
            return None
        token, state = claimed
        try:
            result = self._evaluate_single(req, state)
        except BaseException:
            self.store.release_direct(req.state_id, owner)
            raise
        if result.outcome != "allow":
            self.store.release_direct(req.state_id, owner)
            return result
        record = executed_record(
            req, token=token, granted_at=datetime.now(UTC), expected_version=None, direct=True
        )
        try:
            executed = self._execute_with_metrics(
                ExecuteInput(
                    request=record, expected_version=None, fencing_token=token, claim_owner=owner
                ),
                known_state=(state.version, state.data) if state else (0, {}),
            )
        except ApplicationError as exc:
            self.store.release_direct(req.state_id, owner)
            result.executed = LaneOutcome(
                state_id=req.state_id, token=token, error_type=exc.type or "", error=str(exc)
            )
        else:
            result.executed = LaneOutcome(
                state_id=req.state_id, token=token, request=executed.request
            )
        return result

    def _evaluate(self, input: EvaluateInput) -> EvaluateResult:
        req = input.request
        if req.items:
            contexts = [self._context(req, i.state_id, i.mutation, i.payload) for i in req.items]
            evaluation = _run_policies(lambda: self.app.evaluate_batch(contexts))
            return EvaluateResult(
                outcome=evaluation.outcome,
                reason=evaluation.reason,
                requirements=evaluation.requirements,
                state_version=0,
                on_stale="reject",
                item_versions=[ctx.version for ctx in contexts],
            )
        return self._evaluate_single(req, self.store.get_state(req.state_id))

    def _evaluate_single(self, req: MutationRequest, state: StateView | None) -> EvaluateResult:
        try:
            mutation = self.app.get(req.mutation)
        except UnknownMutationError as exc:
            raise ApplicationError(str(exc), type=ERR_UNKNOWN_MUTATION, non_retryable=True) from exc
        ctx = _policy_context(req, req.state_id, req.mutation, req.payload, state)
        evaluation = _run_policies(lambda: self.app.evaluate(ctx))
        return EvaluateResult(
            outcome=evaluation.outcome,
            reason=evaluation.reason,
            requirements=evaluation.requirements,
            state_version=ctx.version,
            on_stale=mutation.on_stale,
        )

    def _context(
        self, req: MutationRequest, state_id: str, mutation: str, payload: dict[str, Any]
    ) -> PolicyContext:
        """What a policy sees: the request and the state as it is now."""
        return _policy_context(req, state_id, mutation, payload, self.store.get_state(state_id))

    def resolve_version(self, input: ResolveVersionInput) -> ResolveVersionResult:
        """One state's version against a base (a single request's execution does this in
        its own transaction; batches resolve all their items first)."""
        current = self.store.current_version(input.state_id)
        stale = input.base_version is not None and input.base_version != current
        return ResolveVersionResult(current_version=current, stale=stale)

    @activity.defn(name=EXECUTE_ACTIVITY)
    async def execute(self, input: ExecuteInput) -> ExecuteResult:
        """Apply the request's change; the handler and the write run in a thread.

        Heartbeats while it runs: that renews the lease of the lane that runs it.
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
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        running = loop.run_in_executor(
            self.executor, context.run, self._execute_with_metrics, input
        )
        timeout = activity.info().heartbeat_timeout
        interval = timeout.total_seconds() / 3 if timeout else None
        while not (await asyncio.wait({running}, timeout=interval))[0]:
            activity.heartbeat()
        return await running

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
            raise ApplicationError(
                f"the request's workflow {owner} is {status}: not executed",
                type=ERR_OWNER_GONE,
                non_retryable=True,
            )

    def _execute_with_metrics(
        self, input: ExecuteInput, known_state: tuple[int, StateData] | None = None
    ) -> ExecuteResult:
        req = input.request
        try:
            mutation = self.app.get(req.mutation)
        except UnknownMutationError as exc:
            raise ApplicationError(str(exc), type=ERR_UNKNOWN_MUTATION, non_retryable=True) from exc

        change = _change_for(mutation, req.payload)
        meter = activity.metric_meter()
        started = time.monotonic()
        outcome = "failed"
        try:
            result = self._execute(input, change, known_state)
            outcome = "applied"
            return result
        finally:
            meter.create_histogram_timedelta(
                metrics.EXECUTION, "Mutation execution activity", "s"
            ).record(
                timedelta(seconds=time.monotonic() - started),
                {"mutation": req.mutation, "outcome": outcome},
            )

    def _execute(
        self,
        input: ExecuteInput,
        change: Callable[[StateData], StateData],
        known_state: tuple[int, StateData] | None = None,
    ) -> ExecuteResult:
        req = input.request
        for attempt in range(MAX_CAS_ATTEMPTS):
            try:
                applied = self.store.apply(
                    request=req,
                    change=change,
                    expected_version=input.expected_version,
                    fencing_token=input.fencing_token,
                    claim_owner=input.claim_owner,
                    lane_owner=input.lane_owner,
                    # What the caller read holds for the first try only.
                    known_state=known_state if attempt == 0 else None,
                )
                return ExecuteResult(request=applied)
            except FencedOut as exc:
                raise ApplicationError(str(exc), type=ERR_FENCED_OUT, non_retryable=True) from exc
            except VersionConflict as exc:
                raise ApplicationError(
                    str(exc), exc.current, type=ERR_VERSION_CONFLICT, non_retryable=True
                ) from exc
            except ValidationRefused as exc:
                raise ApplicationError(str(exc), type=ERR_VALIDATION, non_retryable=True) from exc
            except HandlerFailed as exc:
                raise ApplicationError(
                    str(exc), type=ERR_MUTATION_FAILED, non_retryable=True
                ) from exc
            except CompareAndSetLost:
                if input.expected_version is not None:
                    current = self.store.current_version(req.state_id)
                    raise ApplicationError(
                        f"state {req.state_id!r} moved to version {current} during execution",
                        current,
                        type=ERR_VERSION_CONFLICT,
                        non_retryable=True,
                    ) from None
                activity.logger.info("compare-and-set lost on %s; retrying", req.state_id)
                activity.metric_meter().create_counter(
                    metrics.CAS_RETRIES, "Compare-and-set conflicts retried on the new state"
                ).add(1, {"mutation": req.mutation})
        raise RuntimeError(f"compare-and-set on {req.state_id!r} lost {MAX_CAS_ATTEMPTS} times")

    @activity.defn(name=SAVE_REQUEST_ACTIVITY)
    def save_request(self, input: SaveRequestInput) -> SaveRequestResult:
        self.store.save_request(input.request)
        return SaveRequestResult(revision=input.request.revision)

    @activity.defn(name=RESOLVE_VERSIONS_ACTIVITY)
    def resolve_versions(self, input: ResolveVersionsInput) -> ResolveVersionsResult:
        return ResolveVersionsResult(items=[self.resolve_version(item) for item in input.items])

    @activity.defn(name=EXECUTE_ITEMS_ACTIVITY)
    def execute_items(self, input: ExecuteItemsInput) -> ExecuteItemsResult:
        """Apply batch items in one transaction; a refused item raises with its index."""
        changes = []
        for item in input.items:
            try:
                mutation = self.app.get(item.mutation)
            except UnknownMutationError as exc:
                raise _item_failure(item.index, ERR_UNKNOWN_MUTATION, str(exc)) from exc
            change = _change_for(mutation, item.payload)
            changes.append(
                StateChange(
                    key=f"{input.request_id}#{item.index}",
                    state_id=item.state_id,
                    actor=input.requester,
                    change=_with_index(item.index, change),
                    expected_version=item.expected_version,
                    fencing_token=input.tokens.get(item.state_id),
                )
            )
        stored: list[MutationRequest] = []

        def finalize(versions: list[int]) -> MutationRequest | None:
            if input.request is None:
                return None
            final = input.request.model_copy(deep=True)
            by_index = {item.index: v for item, v in zip(input.items, versions, strict=True)}
            for item in final.items:
                if item.index in by_index:
                    item.outcome = ItemOutcome.APPLIED
                    item.resulting_version = by_index[item.index]
            stored.append(final)
            return final

        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                versions = self.store.apply_changes(changes, finalize)
                return ExecuteItemsResult(versions=versions, request=stored[0] if stored else None)
            except ItemError as exc:
                kind = ERR_VALIDATION if exc.kind == "validation" else ERR_MUTATION_FAILED
                raise _item_failure(exc.index, kind, str(exc.__cause__ or exc)) from exc
            except VersionConflict as exc:
                index = input.items[exc.index].index
                raise _item_failure(index, ERR_VERSION_CONFLICT, str(exc)) from exc
            except FencedOut as exc:
                index = next(i.index for i in input.items if i.state_id == exc.state_id)
                raise _item_failure(index, ERR_FENCED_OUT, str(exc)) from exc
            except CompareAndSetLost:
                if any(item.expected_version is not None for item in input.items):
                    raise _item_failure(
                        input.items[0].index, ERR_VERSION_CONFLICT, "a state moved during execution"
                    ) from None
                stored.clear()
        raise RuntimeError(f"compare-and-set lost {MAX_CAS_ATTEMPTS} times")

    def all(self) -> list[Any]:
        """Everything but the execution, which runs on its own, slot-limited task queue."""
        return [self.evaluate, self.resolve_versions, self.save_request]

    def execution(self) -> list[Any]:
        """The activities on the slot-limited execution task queue (a request's first
        evaluation runs there too, since it may execute the request directly)."""
        return [self.evaluate, self.execute, self.execute_items]


def _policy_context(
    req: MutationRequest,
    state_id: str,
    mutation: str,
    payload: dict[str, Any],
    state: StateView | None,
) -> PolicyContext:
    return PolicyContext(
        state_id=state_id,
        mutation=mutation,
        payload=payload,
        state=dict(state.data) if state else {},
        version=state.version if state else 0,
        requester=req.requester,
    )


def _run_policies(evaluate: Callable[[], Evaluation]) -> Evaluation:
    try:
        return evaluate()
    except Exception as exc:
        # A bug in a user's policy must not loop forever; it ends the request with the error.
        raise ApplicationError(
            f"policy evaluation raised {type(exc).__name__}: {exc}",
            type=ERR_POLICY_FAILED,
            non_retryable=True,
        ) from exc


def _with_index(
    index: int, change: Callable[[StateData], StateData]
) -> Callable[[StateData], StateData]:
    def indexed(data: StateData) -> StateData:
        try:
            return change(data)
        except ValidationRefused as exc:
            raise ItemError(index, "validation", str(exc)) from exc
        except HandlerFailed as exc:
            raise ItemError(index, "handler", str(exc)) from exc

    return indexed


def _item_failure(index: int, kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, index, type=kind, non_retryable=True)
