"""Running a mutation's work in a thread while the activity heartbeats and keeps its limit.

The heartbeat tells Temporal the worker is alive: when it stops (the worker died), the
attempt times out within the heartbeat timeout and is retried on another worker. The limit
counts only the time the handler has been running in this attempt (not time spent waiting
for a worker or a thread); past it the activity gives up on the attempt. A thread cannot be
stopped, so the caller fences the abandoned attempt out in the store before it answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")

logger = logging.getLogger("mutator.execution")

# Without a heartbeat timeout (an activity scheduled without the worker's interceptor).
DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 1.0


class HandlerTimedOut(Exception):
    """The handler ran past its limit in this attempt."""

    def __init__(self, limit: float) -> None:
        """Say the handler ran past ``limit`` seconds."""
        super().__init__(f"the handler ran past its limit of {limit:g} s")
        self.limit = limit


class Stopwatch:
    """Started by the worker thread when the limited part (the handler) begins."""

    def __init__(self) -> None:
        """A stopwatch not yet started."""
        self.started_at: float | None = None

    def start(self) -> None:
        """Start timing, once; later calls keep the first start."""
        if self.started_at is None:
            self.started_at = time.monotonic()

    def left(self, limit: float) -> float | None:
        """Seconds left before ``limit``; None while not started."""
        if self.started_at is None:
            return None
        return self.started_at + limit - time.monotonic()


async def run_heartbeating(
    executor: concurrent.futures.Executor | None,
    work: Callable[[Stopwatch], T],
    *,
    limit: float | None,
    what: str,
) -> T:
    """Run ``work(stopwatch)`` in ``executor``, heartbeating while it runs.

    Args:
        executor: Where ``work`` runs; None: the loop's default executor.
        work: The blocking work; it calls ``stopwatch.start()`` where the limited part begins.
        limit: Seconds the limited part may run; None: no limit.
        what: Names the work in the log line of an abandoned run.

    Returns:
        What ``work`` returned.

    Raises:
        HandlerTimedOut: The part after ``stopwatch.start()`` ran longer than ``limit``; the
            thread is abandoned (it cannot be stopped) and logged when it ends.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    stopwatch = Stopwatch()
    running = loop.run_in_executor(executor, context.run, work, stopwatch)
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else DEFAULT_HEARTBEAT_INTERVAL_SECONDS
    while True:
        wait = interval
        left = stopwatch.left(limit) if limit is not None else None
        if left is not None and limit is not None:
            if left <= 0:
                running.add_done_callback(lambda done: _log_abandoned(what, done))
                raise HandlerTimedOut(limit)
            wait = min(wait, left)
        if (await asyncio.wait({running}, timeout=wait))[0]:
            return running.result()
        activity.heartbeat()


def _log_abandoned(what: str, done: asyncio.Future[T]) -> None:
    # Retrieving the outcome also keeps asyncio from reporting it as never retrieved.
    if done.cancelled():
        return
    error = done.exception()
    outcome = f"{type(error).__name__}: {error}" if error else "it returned"
    logger.info("%s, given up after its limit, ended: %s", what, outcome)
