"""``MutatorClient``: submit, vote on, inspect and wait for governed mutation requests."""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from mutator.admission import (
    ADMISSION_TIMEOUT_SECONDS,
    admission_timeout_from_env,
    no_worker,
    not_yet_evaluated,
    worker_last_seen,
)
from mutator.contracts import (
    ERR_INVALID_INPUT,
    REQUEST_WORKFLOW,
    AdmissionInput,
    ApproveInput,
    CancelInput,
    RejectInput,
    RequestUpdateResult,
    RequestWorkflowResult,
    request_workflow_id,
)
from mutator.errors import (
    MutatorError,
    MutatorInputError,
    MutatorNotFound,
    MutatorRefused,
    MutatorUnavailable,
)
from mutator.lane_contracts import LANE_WORKFLOW, LaneStatus
from mutator.limits import (
    PayloadLimits,
    check_name,
    check_optional_id,
    check_submitter,
    check_text,
    check_version,
)
from mutator.models import (
    BatchItem,
    BatchMode,
    LockInfo,
    MutationRequest,
    RequestStatus,
    SubmitRequestInput,
    batch_state_id,
)
from mutator.reader import StoreReader
from mutator.settings import DEFAULT_DATABASE_URL, TASK_QUEUE
from mutator.store import Store
from mutator.store.schema import ClaimKind
from mutator.temporal import connect_temporal

# A lane whose worker is gone would hold a status query until the server gives up.
LOCK_QUERY_SECONDS = 3.0


class MutatorTimeout(MutatorError):
    """``wait`` ran out of time before the request ended."""

    exit_code = 1


def _input_error(exc: ValidationError, prefix: str = "") -> MutatorInputError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in (prefix, *err['loc']) if p != '') or 'input'}: {err['msg']}"
        for err in exc.errors()
    )
    return MutatorInputError(problems)


class MutatorClient(StoreReader):
    def __init__(
        self,
        temporal: Client,
        store: Store,
        *,
        task_queue: str = TASK_QUEUE,
        search_attributes: bool = True,
        limits: PayloadLimits | None = None,
        admission_timeout: float = ADMISSION_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(store)
        self.temporal = temporal
        self.task_queue = task_queue
        # Checked before anything starts (MUTATOR_MAX_PAYLOAD_BYTES and friends by default).
        self.limits = limits if limits is not None else PayloadLimits.from_env()
        # After this long without an answer, submit returns the request not yet evaluated
        # (a worker polls) or says that no worker runs.
        self.admission_timeout = admission_timeout
        # Off only where the server cannot register them (the time-skipping test server).
        self.search_attributes = search_attributes
        # Mutation names the workers registered; read again when a name is not in it.
        self._known_mutations: set[str] = set()

    @classmethod
    async def connect(
        cls,
        address: str = "localhost:7233",
        namespace: str = "default",
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        task_queue: str = TASK_QUEUE,
        limits: PayloadLimits | None = None,
        admission_timeout: float | None = None,
    ) -> MutatorClient:
        """``limits`` and ``admission_timeout`` default to their environment variables
        (MUTATOR_MAX_*, MUTATOR_ADMISSION_TIMEOUT_SECONDS), else to the built-in values."""
        limits = limits if limits is not None else PayloadLimits.from_env()
        if admission_timeout is None:
            admission_timeout = admission_timeout_from_env()
        store = Store.from_url(database_url)
        try:
            await asyncio.to_thread(store.check_schema)
            temporal = await connect_temporal(address, namespace)
        except BaseException:
            store.dispose()
            raise
        return cls(
            temporal,
            store,
            task_queue=task_queue,
            limits=limits,
            admission_timeout=admission_timeout,
        )

    # -- commands -----------------------------------------------------------------------

    async def submit(
        self,
        state_id: str,
        mutation: str,
        payload: dict[str, Any],
        *,
        actor: str,
        reason: str = "",
        request_id: str | None = None,
        expected_version: int | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> MutationRequest:
        check_submitter(actor, reason, request_id)
        check_name(mutation, "mutation")
        check_version(expected_version, "expected_version")
        self.limits.check_payload(payload)
        try:
            submitted = SubmitRequestInput(
                request_id=request_id if request_id is not None else f"req-{uuid.uuid4().hex[:16]}",
                state_id=state_id,
                mutation=mutation,
                payload=payload,
                requester=actor,
                reason=reason,
                expected_version=expected_version,
            )
        except ValidationError as exc:
            raise _input_error(exc) from None
        return await self._submit(
            submitted, wait=wait, wait_timeout=wait_timeout, new_id=request_id is None
        )

    async def submit_batch(
        self,
        items: Sequence[BatchItem | dict[str, Any]],
        *,
        mode: BatchMode | str,
        actor: str,
        reason: str = "",
        request_id: str | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> MutationRequest:
        """Several mutations, possibly over several states, governed as one request."""
        try:
            batch_mode = BatchMode(mode)
        except ValueError:
            allowed = ", ".join(m.value for m in BatchMode)
            raise MutatorInputError(
                f"mode: {mode!r} is not a batch mode (one of {allowed})"
            ) from None
        check_submitter(actor, reason, request_id)
        self.limits.check_item_count(len(items))
        parsed: list[BatchItem] = []
        for index, item in enumerate(items):
            try:
                parsed.append(BatchItem.model_validate(item))
            except ValidationError as exc:
                raise _input_error(exc, f"items.{index}") from None
            check_name(parsed[-1].mutation, f"items.{index}.mutation")
            check_version(parsed[-1].expected_version, f"items.{index}.expected_version")
        self.limits.check_batch([item.payload for item in parsed])
        try:
            submitted = SubmitRequestInput(
                request_id=(
                    request_id if request_id is not None else f"batch-{uuid.uuid4().hex[:16]}"
                ),
                state_id=batch_state_id(parsed) if parsed else "batch",
                mutation="batch",
                payload={},
                requester=actor,
                reason=reason,
                batch_mode=batch_mode,
                items=parsed,
            )
        except ValidationError as exc:
            raise _input_error(exc) from None
        return await self._submit(
            submitted, wait=wait, wait_timeout=wait_timeout, new_id=request_id is None
        )

    async def _submit(
        self,
        submitted: SubmitRequestInput,
        *,
        wait: bool,
        wait_timeout: float | None,
        new_id: bool,
    ) -> MutationRequest:
        # A request id given by the caller may name a request that exists (resubmission);
        # one this client just made up (64 random bits) cannot.
        existing = (
            None
            if new_id
            else await asyncio.to_thread(self.store.get_request, submitted.request_id)
        )
        if existing is None:
            names = (
                [i.mutation for i in submitted.items] if submitted.items else [submitted.mutation]
            )
            if not self._known_mutations.issuperset(names):
                self._known_mutations = set(
                    await asyncio.to_thread(self.store.registered_mutations)
                )
            known = sorted(self._known_mutations)
            for index, name in enumerate(names):
                if known and name not in known:
                    field = f"items.{index}.mutation" if submitted.items else "mutation"
                    raise MutatorInputError(
                        f"{field}: unknown mutation {name!r} (registered: {', '.join(known)})"
                    )
            existing = await self._start(submitted)
        if wait and not existing.status.is_terminal:
            return await self.wait(existing.request_id, timeout=wait_timeout)
        return existing

    async def _start(self, submitted: SubmitRequestInput) -> MutationRequest:
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(
                    SearchAttributeKey.for_keyword("MutationStateId"), submitted.state_id
                ),
                SearchAttributePair(
                    SearchAttributeKey.for_keyword("MutationName"), submitted.mutation
                ),
                SearchAttributePair(
                    SearchAttributeKey.for_keyword("MutationRequester"), submitted.requester
                ),
                SearchAttributePair(
                    SearchAttributeKey.for_keyword("MutationStatus"), RequestStatus.PENDING.value
                ),
            ]
        )
        start: WithStartWorkflowOperation[Any, RequestWorkflowResult] = WithStartWorkflowOperation(
            REQUEST_WORKFLOW,
            submitted,
            id=request_workflow_id(submitted.request_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=attributes if self.search_attributes else None,
            static_summary=(
                f"{submitted.mutation} on {submitted.state_id} by {submitted.requester}"
            ),
            static_details=submitted.reason or None,
            result_type=RequestWorkflowResult,
        )
        try:
            result = await asyncio.wait_for(
                self.temporal.execute_update_with_start_workflow(
                    "admission",
                    AdmissionInput(),
                    start_workflow_operation=start,
                    result_type=RequestUpdateResult,
                ),
                self.admission_timeout,
            )
        except WorkflowAlreadyStartedError:
            # The request ended and its workflow id is closed: the store has the record.
            return await self.get(submitted.request_id)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # The SDK leaves the cancellation on the start operation's handle future; read
            # it so that asyncio does not print "Future exception was never retrieved".
            handle_future = start._workflow_handle
            if handle_future.done() and not handle_future.cancelled():
                handle_future.exception()
            return await self._unanswered(submitted)
        except WorkflowUpdateFailedError as exc:
            # Its workflow ended (e.g. an operator terminated it) before admission answered.
            cause = exc.cause
            why = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise MutatorRefused(
                f"request {submitted.request_id} ended before its submission was answered "
                f"({why}); see `mutator show {submitted.request_id}` and its workflow "
                f"{request_workflow_id(submitted.request_id)} in the Temporal UI"
            ) from None
        except RPCError as exc:
            raise MutatorUnavailable(f"Temporal refused the submission: {exc}") from exc
        request: MutationRequest = result.request
        return request

    async def _unanswered(self, submitted: SubmitRequestInput) -> MutationRequest:
        """No evaluation within the admission timeout: a worker that polls the task queue is
        busy or restarting and will evaluate it; with no worker, nothing will until one runs."""
        last_seen = await worker_last_seen(self.temporal, self.task_queue)
        if last_seen is None:
            raise no_worker(submitted, self.task_queue, self.admission_timeout)
        return not_yet_evaluated(submitted, self.task_queue, self.admission_timeout, last_seen)

    async def approve(
        self, request_id: str, *, actor: str, comment: str = "", update_id: str | None = None
    ) -> MutationRequest:
        check_text(comment, "comment")
        return await self._vote(
            request_id, "approve", ApproveInput(actor=actor, comment=comment), update_id
        )

    async def reject(
        self, request_id: str, *, actor: str, reason: str, update_id: str | None = None
    ) -> MutationRequest:
        if not reason.strip():
            raise MutatorInputError("reason: must not be empty; say why the request is rejected")
        check_text(reason, "reason")
        return await self._vote(
            request_id, "reject", RejectInput(actor=actor, reason=reason), update_id
        )

    async def cancel(
        self, request_id: str, *, actor: str, reason: str = "", update_id: str | None = None
    ) -> MutationRequest:
        check_text(reason, "reason")
        return await self._vote(
            request_id, "cancel", CancelInput(actor=actor, reason=reason), update_id
        )

    async def _vote(
        self, request_id: str, update: str, arg: Any, update_id: str | None
    ) -> MutationRequest:
        check_name(getattr(arg, "actor", ""), "actor")
        check_optional_id(update_id, "update_id")
        current = await self.get(request_id)
        if current.status.is_terminal:
            raise MutatorRefused(
                f"request {request_id} is {current.status.value}; it can no longer be changed "
                f"({update} refused)"
            )
        handle: WorkflowHandle[Any, Any] = self.temporal.get_workflow_handle(
            request_workflow_id(request_id)
        )
        try:
            result = await handle.execute_update(
                update, arg, id=update_id, result_type=RequestUpdateResult
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            if isinstance(cause, ApplicationError) and cause.type == ERR_INVALID_INPUT:
                # The workflow refused the message itself (a field it cannot take): bad input.
                raise MutatorInputError(message) from None
            raise MutatorRefused(message) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                latest = await self.get(request_id)
                raise MutatorRefused(
                    f"request {request_id} is {latest.status.value}; it can no longer be changed "
                    f"({update} refused)"
                ) from None
            raise MutatorUnavailable(f"Temporal refused the {update}: {exc}") from exc
        request: MutationRequest = result.request
        return request

    async def wait(self, request_id: str, *, timeout: float | None = None) -> MutationRequest:
        """Wait until the request reaches a final status and return it."""
        current = await asyncio.to_thread(self.store.get_request, request_id)
        if current is None and not await self._submitted(request_id):
            raise MutatorNotFound(f"request_id: no request with id {request_id!r}")
        if current is not None and current.status.is_terminal:
            return current
        handle = self.temporal.get_workflow_handle(
            request_workflow_id(request_id), result_type=RequestWorkflowResult
        )
        try:
            await asyncio.wait_for(handle.result(), timeout)
        except TimeoutError:
            found = await asyncio.to_thread(self.store.get_request, request_id)
            still = (
                f"{found.status.value}"
                + (f" ({found.pending_reason.value})" if found.pending_reason else "")
                if found is not None
                else "waiting for a worker to evaluate it"
            )
            raise MutatorTimeout(
                f"request {request_id} is still {still} after {timeout:g}s"
            ) from None
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise MutatorUnavailable(f"Temporal refused to wait: {exc}") from exc
        return await self.get(request_id)

    async def _submitted(self, request_id: str) -> bool:
        """Its workflow exists: submitted, though no worker has evaluated (stored) it yet."""
        try:
            await self.temporal.get_workflow_handle(request_workflow_id(request_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise MutatorUnavailable(f"Temporal refused to describe {request_id}: {exc}") from exc
        return True

    async def locks(self) -> builtins.list[LockInfo]:
        """Every state in use now: open lanes (holder, fencing token, queue, lease) and
        direct executions (a lone request holding its state without a lane)."""
        query = f'WorkflowType = "{LANE_WORKFLOW}" AND ExecutionStatus = "Running"'
        lane_ids = [execution.id async for execution in self.temporal.list_workflows(query)]
        found = await asyncio.gather(*(self._lock_info(lane_id) for lane_id in lane_ids))
        by_state = {lock.state_id: lock for lock in found}
        now = datetime.now(UTC)
        claims = await asyncio.to_thread(self.store.claims)
        prefix = request_workflow_id("")
        for claim in claims:
            lock = by_state.get(claim.state_id)
            if claim.kind != ClaimKind.DIRECT or (lock is not None and lock.holder_request_id):
                continue
            # Requests that joined the lane meanwhile wait for this execution first.
            waiting = [
                c.owner.removeprefix(prefix)
                for c in claims
                if c.state_id == claim.state_id and c.kind == ClaimKind.LANE
            ]
            direct = LockInfo(
                state_id=claim.state_id,
                holder_request_id=claim.owner.removeprefix(prefix),
                fencing_token=claim.token,
                queue_length=len(waiting),
                queued_request_ids=waiting,
                acquired_at=claim.claimed_at,
                expires_at=claim.expires_at,
                stale=bool(claim.expires_at and claim.expires_at < now),
                note="executing directly: the state was free",
            )
            by_state[claim.state_id] = direct
        return sorted(by_state.values(), key=lambda lock: lock.state_id)

    async def _lock_info(self, lane_id: str) -> LockInfo:
        handle = self.temporal.get_workflow_handle(lane_id)
        state_id = lane_id.removeprefix("state-lane:")
        try:
            status = await handle.query(
                "status", result_type=LaneStatus, rpc_timeout=timedelta(seconds=LOCK_QUERY_SECONDS)
            )
        except (RPCError, WorkflowQueryFailedError) as exc:
            return LockInfo(
                state_id=state_id,
                holder_request_id=None,
                fencing_token=None,
                queue_length=0,
                queued_request_ids=[],
                acquired_at=None,
                expires_at=None,
                stale=False,
                note=f"lane did not answer (is a worker running?): {exc}",
            )
        holder = status.holder
        return LockInfo(
            state_id=status.state_id,
            holder_request_id=holder.request_id if holder else None,
            fencing_token=holder.token if holder else None,
            queue_length=len(status.queue),
            queued_request_ids=[e.request_id for e in status.queue],
            acquired_at=holder.acquired_at if holder else None,
            expires_at=holder.expires_at if holder else None,
            stale=bool(holder and holder.expires_at < datetime.now(UTC)),
        )
