"""What ``MutatorClient.locks`` shows: the open state lanes merged with the direct claims.

A lane answers a status query for its holder and queue; a request that found its state free
executes directly and holds a claim in the store without a lane. Both are "in use".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from mutator.contracts import request_workflow_id
from mutator.lane_contracts import LANE_WORKFLOW, LaneStatus
from mutator.models import LockInfo
from mutator.store import StateClaim, Store
from mutator.store.schema import ClaimKind

# A lane whose worker is gone would hold a status query until the server gives up.
LOCK_QUERY_SECONDS = 3.0


async def read_locks(temporal: Client, store: Store) -> list[LockInfo]:
    """Every state in use now, sorted by state id.

    Args:
        temporal: The Temporal client whose namespace runs the lanes.
        store: The store holding the direct claims.

    Returns:
        One entry per state: its lane's holder, fencing token, queue and lease, or the
        direct execution holding it.
    """
    query = f'WorkflowType = "{LANE_WORKFLOW}" AND ExecutionStatus = "Running"'
    lane_ids = [execution.id async for execution in temporal.list_workflows(query)]
    lanes = await asyncio.gather(*(_lane_lock(temporal, lane_id) for lane_id in lane_ids))
    claims = await asyncio.to_thread(store.claims)
    return merge_direct_claims(lanes, claims, datetime.now(UTC))


def merge_direct_claims(
    lanes: Sequence[LockInfo], claims: Sequence[StateClaim], now: datetime
) -> list[LockInfo]:
    """Add the direct executions to the lanes' locks.

    Args:
        lanes: What each running lane reported.
        claims: Every claim row in the store (lane and direct).
        now: The time a lease is compared with to call it stale.

    Returns:
        The locks by state id: a direct claim stands for its state unless the state's lane
        has a holder of its own.
    """
    by_state = {lock.state_id: lock for lock in lanes}
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
        by_state[claim.state_id] = LockInfo(
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
    return sorted(by_state.values(), key=lambda lock: lock.state_id)


async def _lane_lock(temporal: Client, lane_id: str) -> LockInfo:
    handle = temporal.get_workflow_handle(lane_id)
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
