"""Submission for ``MutatorClient``: checking a request's input, then starting its workflow.

The checks run before anything starts, so bad input never leaves a workflow behind. The
start is one update-with-start: the workflow begins and answers once a worker has evaluated
its policies, or the client stops waiting after the admission timeout.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
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
from temporalio.service import RPCError

from mutator.admission import no_worker, not_yet_evaluated, worker_last_seen
from mutator.client_messages import workflow_exists
from mutator.compensation_contracts import ERR_COMPENSATION_REFUSED
from mutator.contracts import (
    ERR_BREAK_GLASS_REFUSED,
    REQUEST_WORKFLOW,
    AdmissionInput,
    RequestUpdateResult,
    RequestWorkflowResult,
    request_workflow_id,
)
from mutator.errors import MutatorInputError, MutatorRefused, MutatorUnavailable
from mutator.limits import PayloadLimits, check_name, check_submitter, check_version
from mutator.models import (
    BREAK_GLASS_WAITS,
    MAX_AFTER,
    BatchItem,
    BatchMode,
    MutationRequest,
    RequestStatus,
    SubmitRequestInput,
    batch_state_id,
)
from mutator.store import Store

AFTER_ID = re.compile(r"[A-Za-z0-9._:\-]{1,200}")


def input_error(exc: ValidationError, prefix: str = "") -> MutatorInputError:
    """One ``MutatorInputError`` naming every field pydantic refused.

    Args:
        exc: The validation failure.
        prefix: Prepended to each field's path (``items.3`` for a batch item).

    Returns:
        The error, its message one ``field: problem`` per refused field.
    """
    problems = "; ".join(
        f"{'.'.join(str(p) for p in (prefix, *err['loc']) if p != '') or 'input'}: {err['msg']}"
        for err in exc.errors()
    )
    return MutatorInputError(problems)


def single_submission(
    state_id: str,
    mutation: str,
    payload: dict[str, Any],
    *,
    actor: str,
    reason: str,
    request_id: str | None,
    expected_version: int | None,
    limits: PayloadLimits,
    after: Sequence[str] = (),
    not_before: datetime | None = None,
    break_glass: bool = False,
) -> SubmitRequestInput:
    """The checked input of a one-mutation request (see ``MutatorClient.submit``).

    Raises:
        MutatorInputError: A field is malformed or over its limit.
    """
    check_submitter(actor, reason, request_id)
    if break_glass and not reason.strip():
        raise MutatorInputError(
            "reason: a break-glass submit needs a reason (--reason: why the emergency)"
        )
    if break_glass and (after or not_before is not None):
        raise MutatorInputError(BREAK_GLASS_WAITS)
    check_after(after, request_id)
    check_name(mutation, "mutation")
    check_version(expected_version, "expected_version")
    limits.check_payload(payload)
    try:
        return SubmitRequestInput(
            request_id=request_id if request_id is not None else f"req-{uuid.uuid4().hex[:16]}",
            state_id=state_id,
            mutation=mutation,
            payload=payload,
            requester=actor,
            reason=reason,
            expected_version=expected_version,
            after=list(after),
            not_before=check_not_before(not_before),
            break_glass=break_glass,
        )
    except ValidationError as exc:
        raise input_error(exc) from None


def batch_submission(
    items: Sequence[BatchItem | dict[str, Any]],
    *,
    mode: BatchMode | str,
    actor: str,
    reason: str,
    request_id: str | None,
    limits: PayloadLimits,
    after: Sequence[str] = (),
    not_before: datetime | None = None,
    compensate_on_failure: bool = False,
) -> SubmitRequestInput:
    """The checked input of a batch request (see ``MutatorClient.submit_batch``).

    Raises:
        MutatorInputError: The mode, an item or a field is malformed or over its limit.
    """
    try:
        batch_mode = BatchMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in BatchMode)
        raise MutatorInputError(f"mode: {mode!r} is not a batch mode (one of {allowed})") from None
    check_submitter(actor, reason, request_id)
    check_after(after, request_id)
    if compensate_on_failure and batch_mode != BatchMode.SEQUENTIAL:
        raise MutatorInputError(
            f"compensate_on_failure: only a sequential batch compensates (mode is {batch_mode})"
        )
    limits.check_item_count(len(items))
    parsed: list[BatchItem] = []
    for index, item in enumerate(items):
        try:
            parsed.append(BatchItem.model_validate(item))
        except ValidationError as exc:
            raise input_error(exc, f"items.{index}") from None
        check_name(parsed[-1].mutation, f"items.{index}.mutation")
        check_version(parsed[-1].expected_version, f"items.{index}.expected_version")
    limits.check_batch([item.payload for item in parsed])
    try:
        return SubmitRequestInput(
            request_id=request_id if request_id is not None else f"batch-{uuid.uuid4().hex[:16]}",
            state_id=batch_state_id(parsed) if parsed else "batch",
            mutation="batch",
            payload={},
            requester=actor,
            reason=reason,
            batch_mode=batch_mode,
            items=parsed,
            after=list(after),
            not_before=check_not_before(not_before),
            compensate_on_failure=compensate_on_failure,
        )
    except ValidationError as exc:
        raise input_error(exc) from None


def check_not_before(not_before: datetime | None) -> datetime | None:
    """``not_before`` in UTC.

    Raises:
        MutatorInputError: It has no UTC offset (a naive time means nothing to a worker).
    """
    if not_before is None:
        return None
    if not isinstance(not_before, datetime):
        raise MutatorInputError(f"not_before: expected a datetime, got {type(not_before).__name__}")
    if not_before.tzinfo is None or not_before.utcoffset() is None:
        raise MutatorInputError(
            f"not_before: {not_before.isoformat()} has no UTC offset (e.g. 2026-12-24T18:00Z)"
        )
    return not_before.astimezone(UTC)


def check_after(after: Sequence[str], request_id: str | None) -> None:
    """Refuse a malformed list of dependencies (``submit --after``) before anything starts.

    Raises:
        MutatorInputError: An id is empty, malformed or named twice, there are more than
            ``MAX_AFTER``, or one is the request's own id.
    """
    if len(after) > MAX_AFTER:
        raise MutatorInputError(f"after: at most {MAX_AFTER} requests, got {len(after)}")
    for name in after:
        if not isinstance(name, str) or not AFTER_ID.fullmatch(name):
            raise MutatorInputError(
                f"after: {name!r} is not a request id (1-200 of A-Z a-z 0-9 . _ : -)"
            )
        if name == request_id:
            raise MutatorInputError(f"after: a request cannot wait for itself ({name!r})")
    if len(set(after)) != len(after):
        raise MutatorInputError("after: names a request more than once")


async def check_dependencies_exist(
    temporal: Client, store: Store, submitted: SubmitRequestInput
) -> None:
    """Refuse a dependency that names no request: neither stored nor started in Temporal.

    Raises:
        MutatorInputError: A request named by ``after`` does not exist.
        MutatorUnavailable: Temporal cannot be reached.
    """
    for name in submitted.after:
        if await asyncio.to_thread(store.get_request, name) is not None:
            continue
        if not await workflow_exists(temporal, name):
            raise MutatorInputError(f"after: no request with id {name!r}")


def check_known_mutations(submitted: SubmitRequestInput, known: Sequence[str]) -> None:
    """Refuse a mutation no worker registered.

    Args:
        submitted: The request about to start.
        known: The registered mutation names, sorted; empty when none is known yet, which
            lets anything through (the worker's evaluation decides).

    Raises:
        MutatorInputError: A mutation of the request is not among ``known``.
    """
    names = [i.mutation for i in submitted.items] if submitted.items else [submitted.mutation]
    for index, name in enumerate(names):
        if known and name not in known:
            field = f"items.{index}.mutation" if submitted.items else "mutation"
            raise MutatorInputError(
                f"{field}: unknown mutation {name!r} (registered: {', '.join(known)})"
            )


async def start_request(
    temporal: Client,
    submitted: SubmitRequestInput,
    *,
    task_queue: str,
    search_attributes: bool,
    admission_timeout: float,
) -> MutationRequest | None:
    """Start the request's workflow, or join it, and wait for its admission.

    Args:
        temporal: The Temporal client.
        submitted: The checked request.
        task_queue: The workers' task queue.
        search_attributes: Set the request's search attributes (off where the server cannot
            register them).
        admission_timeout: Seconds to wait for a worker to evaluate the request.

    Returns:
        The request as admission left it (allowed, pending or refused); the request not yet
        evaluated when a busy worker did not answer in time; None when the request already
        ended and its workflow id is closed, so that the store holds its record.

    Raises:
        MutatorRefused: The workflow ended before admission answered.
        MutatorUnavailable: Temporal refused the start, or no worker polls the task queue.
    """
    start: WithStartWorkflowOperation[Any, RequestWorkflowResult] = WithStartWorkflowOperation(
        REQUEST_WORKFLOW,
        submitted,
        id=request_workflow_id(submitted.request_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=_search_attributes(submitted) if search_attributes else None,
        static_summary=("BREAK-GLASS: " if submitted.break_glass else "")
        + f"{submitted.mutation} on {submitted.state_id} by {submitted.requester}",
        static_details=submitted.reason or None,
        result_type=RequestWorkflowResult,
    )
    try:
        result = await asyncio.wait_for(
            temporal.execute_update_with_start_workflow(
                "admission",
                AdmissionInput(),
                start_workflow_operation=start,
                result_type=RequestUpdateResult,
            ),
            admission_timeout,
        )
    except WorkflowAlreadyStartedError:
        return None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The SDK leaves the cancellation on the start operation's handle future; read
        # it so that asyncio does not print "Future exception was never retrieved".
        handle_future = start._workflow_handle
        if handle_future.done() and not handle_future.cancelled():
            handle_future.exception()
        return await _unanswered(temporal, submitted, task_queue, admission_timeout)
    except WorkflowUpdateFailedError as exc:
        # Its workflow ended (e.g. an operator terminated it) before admission answered.
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in (
            ERR_BREAK_GLASS_REFUSED,
            ERR_COMPENSATION_REFUSED,
        ):
            raise MutatorRefused(cause.message) from None
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


def _search_attributes(submitted: SubmitRequestInput) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(
                SearchAttributeKey.for_keyword("MutationStateId"), submitted.state_id
            ),
            SearchAttributePair(SearchAttributeKey.for_keyword("MutationName"), submitted.mutation),
            SearchAttributePair(
                SearchAttributeKey.for_keyword("MutationRequester"), submitted.requester
            ),
            SearchAttributePair(
                SearchAttributeKey.for_keyword("MutationStatus"), RequestStatus.PENDING.value
            ),
        ]
    )


async def _unanswered(
    temporal: Client, submitted: SubmitRequestInput, task_queue: str, admission_timeout: float
) -> MutationRequest:
    # No evaluation within the admission timeout: a worker that polls the task queue is busy
    # or restarting and will evaluate it; with no worker, nothing will until one runs.
    last_seen = await worker_last_seen(temporal, task_queue)
    if last_seen is None:
        raise no_worker(submitted, task_queue, admission_timeout)
    return not_yet_evaluated(submitted, task_queue, admission_timeout, last_seen)
