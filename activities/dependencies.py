"""Waiting for a dependency: the request named by ``submit --after`` ends, one way or another.

One activity per dependency waits on the dependency's workflow result (a long poll on its
history, no polling loop of ours) and heartbeats meanwhile, so a worker that dies is noticed
within the heartbeat timeout and the wait resumes on another worker. It reads the store
first, so a dependency that already ended (even one whose workflow Temporal no longer
keeps) answers at once; a workflow that ended without a final status (terminated, timed
out) is reported as such.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from mutator.contracts import (
    AWAIT_DEPENDENCY_ACTIVITY,
    AwaitDependencyInput,
    AwaitDependencyResult,
    RequestWorkflowResult,
    request_workflow_id,
)
from mutator.store import Store

logger = logging.getLogger("mutator.dependencies")

# Without a heartbeat timeout on the activity (scheduled by hand): heartbeat this often.
DEFAULT_HEARTBEAT_INTERVAL = timedelta(seconds=5)


class DependencyActivities:
    """``mutator.await_dependency``, reading the store and the dependency's workflow."""

    def __init__(self, store: Store) -> None:
        """Read dependencies' records from ``store``."""
        self.store = store

    @activity.defn(name=AWAIT_DEPENDENCY_ACTIVITY)
    async def await_dependency(self, input: AwaitDependencyInput) -> AwaitDependencyResult:
        """Return once the request ``input.request_id`` has ended, with how it ended."""
        ended = await self._stored_end(input.request_id)
        if ended is not None:
            return ended
        handle = activity.client().get_workflow_handle(
            request_workflow_id(input.request_id), result_type=RequestWorkflowResult
        )
        waiting = asyncio.ensure_future(handle.result())
        try:
            result = await _heartbeating(waiting)
        except WorkflowFailureError as exc:
            why = f"its workflow ended without a final status ({exc.cause or exc})"
            return await self._stored_end(input.request_id) or AwaitDependencyResult(
                request_id=input.request_id, why=why
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return await self._stored_end(input.request_id) or AwaitDependencyResult(
                request_id=input.request_id, why="no request has this id"
            )
        finally:
            waiting.cancel()
        logger.info("%s: dependency %s is %s", input.dependent_id, input.request_id, result.status)
        return AwaitDependencyResult(request_id=input.request_id, status=result.status)

    async def _stored_end(self, request_id: str) -> AwaitDependencyResult | None:
        stored = await asyncio.to_thread(self.store.get_request, request_id)
        if stored is None or not stored.status.is_terminal:
            return None
        return AwaitDependencyResult(request_id=request_id, status=stored.status)

    def all(self) -> list[Any]:
        """The activities to register on the main task queue."""
        return [self.await_dependency]


async def _heartbeating(
    waiting: asyncio.Future[RequestWorkflowResult],
) -> RequestWorkflowResult:
    timeout = activity.info().heartbeat_timeout
    interval = (timeout / 3 if timeout else DEFAULT_HEARTBEAT_INTERVAL).total_seconds()
    while not (await asyncio.wait({waiting}, timeout=interval))[0]:
        activity.heartbeat()
    return waiting.result()
