"""Executing an approved batch under its mode: atomic, sequential or independent.

atomic: every state's lane in sorted state order (two batches can never wait on each other
in a cycle), every item resolved, then all items in one transaction, or none.
sequential: item by item in order under its state's lane; the first item that is refused
or fails stops the batch; applied items stay applied, the rest are not run.
independent: every item runs under its state's lane; each has its own outcome.

Before it executes, a batch checks its items' schedule (windows, freezes, ``not_before``):
atomic, once every lane is held; sequential and independent, before the first item. Closed,
nothing runs and the batch waits, ``pending`` (schedule), like a single request. Once its
first item runs, it runs to its end. New in this version (``workflow.patched("batch-schedule")``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from mutator.workflows.batch_compensation import compensate_applied, compensates_on_failure
from mutator.workflows.lane_execution import ATTEMPT_BACKSTOP, EXECUTE_RETRY, HEARTBEAT_TIMEOUT
from mutator.workflows.lane_session import LaneSession
from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.contracts import (
        CHECK_SCHEDULE_ACTIVITY,
        ERR_FENCED_OUT,
        ERR_UNKNOWN_MUTATION,
        ERR_VALIDATION,
        ERR_VERSION_CONFLICT,
        EXECUTE_ITEMS_ACTIVITY,
        EXECUTION_QUEUE_SUFFIX,
        RESOLVE_VERSIONS_ACTIVITY,
        CheckScheduleInput,
        CheckScheduleResult,
        ExecuteItemsInput,
        ExecuteItemsResult,
        ResolveVersionInput,
        ResolveVersionsInput,
        ResolveVersionsResult,
    )
    from mutator.decisions import DecisionCode, SystemActor
    from mutator.models import (
        BatchItemResult,
        BatchMode,
        Decision,
        DecisionCategory,
        ItemOutcome,
        MutationRequest,
        RejectionCode,
        RequestStatus,
    )

# The same refusals as a single execution's: retried only on transient errors.
ITEMS_RETRY = EXECUTE_RETRY
REFUSALS = (ERR_UNKNOWN_MUTATION, ERR_VALIDATION, ERR_VERSION_CONFLICT, ERR_FENCED_OUT)

BATCH_SCHEDULE_PATCH = "batch-schedule"


async def execute_batch(record: RequestRecord) -> None:
    """Execute a batch request's items by its mode, recording each item's outcome on ``record``."""
    if record.request.batch_mode == BatchMode.ATOMIC:
        await _atomic(record)
    else:
        await _one_by_one(record, stop_at_failure=record.request.batch_mode == BatchMode.SEQUENTIAL)


async def _schedule_closed(record: RequestRecord) -> bool:
    """Whether the batch's schedule is closed now; if so, it is ``pending`` (schedule), saved."""
    if not workflow.patched(BATCH_SCHEDULE_PATCH):
        return False
    checked: CheckScheduleResult = await workflow.execute_activity(
        CHECK_SCHEDULE_ACTIVITY,
        CheckScheduleInput(request=record.request),
        result_type=CheckScheduleResult,
        start_to_close_timeout=timedelta(seconds=30),
    )
    if checked.schedule.open:
        return False
    record.took(lifecycle.schedule_closed(record.request, checked.schedule, workflow.now()))
    await record.save()
    return True


async def _atomic(record: RequestRecord) -> None:
    items = record.request.items
    lanes = [record.lane(state_id) for state_id in sorted({i.state_id for i in items})]
    held: list[LaneSession] = []
    try:
        for lane in lanes:
            grant = await lane.acquire()
            held.append(lane)
            record.decide(
                DecisionCategory.LIFECYCLE,
                DecisionCode.LANE_ACQUIRED,
                SystemActor.SYSTEM,
                f"{lane.state_id}: fencing token {grant.token}",
            )
        if await _schedule_closed(record):
            await _release(held)
            return
        stale = await _stale_items(items)
        if stale:
            for item in items:
                if item.index in stale:
                    _mark(item, ItemOutcome.REJECTED, stale[item.index])
                else:
                    _mark(item, ItemOutcome.ROLLED_BACK, "not applied: another item was stale")
            record.reject_with(RejectionCode.STALE, _summary(items))
        else:
            record.set_status(
                RequestStatus.EXECUTING, None, DecisionCode.EXECUTING, SystemActor.SYSTEM, ""
            )
            await record.save()
            await _apply_atomically(record, lanes)
    except (Exception, asyncio.CancelledError):
        await _release(held)
        raise
    await _release(held)
    await record.save()


async def _apply_atomically(record: RequestRecord, lanes: list[LaneSession]) -> None:
    executed = record.request.model_copy(deep=True)
    executed.status = RequestStatus.EXECUTED
    executed.updated_at = workflow.now()
    executed.decisions.append(_executed_decision(record))
    async with record.save_lock:
        executed.revision = record.request.revision + 1
        seen = len(record.request.decisions)
        try:
            result = await _run_items(record, executed.items, lanes, executed)
        except ActivityError as exc:
            index, kind, message = _item_failure(exc)
            for item in record.request.items:
                if item.index == index:
                    _mark(item, _outcome_for(kind), message)
                else:
                    _mark(item, ItemOutcome.ROLLED_BACK, f"not applied: item {index} {kind}")
        else:
            assert result.request is not None
            arrived = record.request.decisions[seen:]
            record.request = result.request
            record.request.decisions.extend(arrived)
            record.upsert_status()
            return
    if kind in REFUSALS:
        code = RejectionCode.VALIDATION_FAILED if kind == ERR_VALIDATION else RejectionCode.CONFLICT
        record.reject_with(code, _summary(record.request.items))
    else:
        record.fail(_summary(record.request.items))


async def _one_by_one(record: RequestRecord, *, stop_at_failure: bool) -> None:
    items = record.request.items
    if await _schedule_closed(record):
        return
    record.set_status(RequestStatus.EXECUTING, None, DecisionCode.EXECUTING, SystemActor.SYSTEM, "")
    stopped: int | None = None
    for item in items:
        if stopped is not None:
            _mark(item, ItemOutcome.NOT_RUN, f"not run: item {stopped} did not apply")
            continue
        await _run_one(record, item)
        await record.save()
        if stop_at_failure and item.outcome != ItemOutcome.APPLIED:
            stopped = item.index
    if stopped is not None and compensates_on_failure(record):
        await compensate_applied(record)
    if all(item.outcome == ItemOutcome.APPLIED for item in items):
        record.set_status(
            RequestStatus.EXECUTED, None, DecisionCode.EXECUTED, SystemActor.SYSTEM, _summary(items)
        )
    else:
        record.fail(_summary(items))
    await record.save()


async def _run_one(record: RequestRecord, item: BatchItemResult) -> None:
    lane = record.lane(item.state_id)
    grant = await lane.acquire()
    record.decide(
        DecisionCategory.LIFECYCLE,
        DecisionCode.LANE_ACQUIRED,
        SystemActor.SYSTEM,
        f"item {item.index} on {item.state_id}: fencing token {grant.token}",
    )
    try:
        stale = await _stale_items([item])
        if stale:
            _mark(item, ItemOutcome.REJECTED, stale[item.index])
        else:
            try:
                result = await _run_items(record, [item], [lane], None)
            except ActivityError as exc:
                _, kind, message = _item_failure(exc)
                _mark(item, _outcome_for(kind), message)
            else:
                item.resulting_version = result.versions[0]
                item.applied_diff = result.diffs[0] if result.diffs else None
                _mark(
                    item,
                    ItemOutcome.APPLIED,
                    f"{item.state_id} is now at version {result.versions[0]}",
                )
    except (Exception, asyncio.CancelledError):
        await lane.release()
        raise
    await lane.release()


async def _run_items(
    record: RequestRecord,
    items: list[BatchItemResult],
    lanes: list[LaneSession],
    to_store: MutationRequest | None,
) -> ExecuteItemsResult:
    tokens = {lane.state_id: lane.grant.token for lane in lanes if lane.grant is not None}
    task = asyncio.create_task(
        workflow.execute_activity(
            EXECUTE_ITEMS_ACTIVITY,
            ExecuteItemsInput(
                request_id=record.request.request_id,
                requester=record.request.requester,
                items=items,
                tokens=tokens,
                request=to_store,
            ),
            result_type=ExecuteItemsResult,
            task_queue=workflow.info().task_queue + EXECUTION_QUEUE_SUFFIX,
            # The worker's interceptor sets the heartbeat timeout and the backstop.
            start_to_close_timeout=ATTEMPT_BACKSTOP,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=ITEMS_RETRY,
        )
    )
    return await LaneSession.hold_all_while(lanes, task)


async def _stale_items(items: list[BatchItemResult]) -> dict[int, str]:
    """Index -> reason, for every item whose state moved past its base version."""
    checked = [item for item in items if item.base_version is not None]
    if not checked:
        return {}
    result = await workflow.execute_activity(
        RESOLVE_VERSIONS_ACTIVITY,
        ResolveVersionsInput(
            items=[
                ResolveVersionInput(state_id=i.state_id, base_version=i.base_version)
                for i in checked
            ]
        ),
        result_type=ResolveVersionsResult,
        start_to_close_timeout=timedelta(seconds=30),
    )
    return {
        item.index: f"stale: base version {item.base_version}, {item.state_id} is at version "
        f"{resolution.current_version}"
        for item, resolution in zip(checked, result.items, strict=True)
        if resolution.stale
    }


def _item_failure(exc: ActivityError) -> tuple[int, str, str]:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = cause.details
        index = int(details[0]) if details else -1
        return index, cause.type or "error", cause.message
    return -1, "error", str(cause or exc)


def _outcome_for(kind: str) -> ItemOutcome:
    return ItemOutcome.REJECTED if kind in REFUSALS else ItemOutcome.FAILED


def _mark(item: BatchItemResult, outcome: ItemOutcome, reason: str) -> None:
    item.outcome = outcome
    item.reason = reason


def _summary(items: list[BatchItemResult]) -> str:
    applied = sum(1 for i in items if i.outcome == ItemOutcome.APPLIED)
    problems = [
        f"item {i.index} {i.outcome.value}: {i.compensation or i.reason}"
        for i in items
        if i.outcome not in (ItemOutcome.APPLIED, ItemOutcome.ROLLED_BACK, ItemOutcome.NOT_RUN)
        or i.compensation
    ]
    return "; ".join([f"{applied} of {len(items)} items applied", *problems])


def _executed_decision(record: RequestRecord) -> Decision:
    return Decision(
        category=DecisionCategory.LIFECYCLE,
        code=DecisionCode.EXECUTED,
        actor=SystemActor.SYSTEM,
        reason=f"{len(record.request.items)} items applied in one transaction",
        at=workflow.now(),
    )


async def _release(lanes: list[LaneSession]) -> None:
    for lane in reversed(lanes):
        await lane.release()
