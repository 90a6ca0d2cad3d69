"""A sequential batch's saga: when an item fails, undo the items it applied, newest first.

Only a batch submitted with ``compensate_on_failure`` does this, and only in this version
(``workflow.patched("compensation")``). Each applied item is undone under its state's lane
by ``mutator.compensate_item`` (restore while its change is the latest version, else its
mutation's inverse); the item becomes ``compensated`` with how in ``compensation``, and the
batch records one ``item_compensated`` decision per item (``item_not_compensated`` when its
undo was refused: the item stays ``applied``, the reason kept). The batch then ends
``failed`` like any sequential batch that stopped, its summary listing the compensations.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from mutator.workflows.lane_session import LaneSession
from mutator.workflows.request_compensation import COMPENSATION_PATCH
from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator.compensation_contracts import (
        COMPENSATE_ITEM_ACTIVITY,
        ERR_COMPENSATION_REFUSED,
        CompensateItemInput,
        CompensateItemResult,
    )
    from mutator.decisions import DecisionCode, SystemActor
    from mutator.models import BatchItemResult, DecisionCategory, ItemOutcome

COMPENSATE_ITEM_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=[ERR_COMPENSATION_REFUSED]
)


def compensates_on_failure(record: RequestRecord) -> bool:
    """Whether the batch undoes its applied items after a failure (this version only)."""
    return record.request.compensate_on_failure and workflow.patched(COMPENSATION_PATCH)


async def compensate_applied(record: RequestRecord) -> None:
    """Undo every applied item, newest first, each under its state's lane; save after each."""
    applied = [i for i in record.request.items if i.outcome == ItemOutcome.APPLIED]
    for item in reversed(applied):
        await _compensate_item(record, item)
        await record.save()


async def _compensate_item(record: RequestRecord, item: BatchItemResult) -> None:
    lane = record.lane(item.state_id)
    grant = await lane.acquire()
    try:
        task = asyncio.create_task(
            workflow.execute_activity(
                COMPENSATE_ITEM_ACTIVITY,
                CompensateItemInput(
                    request_id=record.request.request_id,
                    requester=record.request.requester,
                    item=item,
                    token=grant.token,
                ),
                result_type=CompensateItemResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=COMPENSATE_ITEM_RETRY,
            )
        )
        try:
            result = await LaneSession.hold_all_while([lane], task)
        except ActivityError as exc:
            cause = exc.cause
            why = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            item.compensation = f"not compensated: {why}"
            record.decide(
                DecisionCategory.LIFECYCLE,
                DecisionCode.ITEM_NOT_COMPENSATED,
                SystemActor.SYSTEM,
                f"item {item.index} on {item.state_id}: {why}",
            )
        else:
            item.outcome = ItemOutcome.COMPENSATED
            item.compensation = (
                f"{result.mode}: {item.state_id} is now at version {result.resulting_version}"
            )
            record.decide(
                DecisionCategory.LIFECYCLE,
                DecisionCode.ITEM_COMPENSATED,
                SystemActor.SYSTEM,
                f"item {item.index} on {item.state_id} compensated ({item.compensation})",
            )
    except (Exception, asyncio.CancelledError):
        await lane.release()
        raise
    await lane.release()
