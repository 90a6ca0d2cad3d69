"""The worker's timeouts for the activities that run mutations.

Workflows cannot read a worker's settings, so the worker applies them where workflows
schedule those activities (a workflow interceptor): a heartbeat timeout of a few seconds,
so a dead worker is noticed at once and the attempt retried elsewhere, and a start-to-close
backstop per attempt. The handler's own time limit is enforced by the activity itself
(``activities/heartbeat.py``), so time spent waiting for a worker never counts against it.
Timeouts are not part of the determinism check on replay, so workers with different
settings can replay each other's histories.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from mutator.contracts import EVALUATE_ACTIVITY, EXECUTE_ACTIVITY, EXECUTE_ITEMS_ACTIVITY

# Activities that run handlers (or may: the first evaluation executes directly) and heartbeat.
HEARTBEATING_ACTIVITIES = frozenset({EVALUATE_ACTIVITY, EXECUTE_ACTIVITY, EXECUTE_ITEMS_ACTIVITY})
# Beyond the handler's limit and two heartbeat timeouts, an attempt is presumed stuck.
BACKSTOP_MARGIN = timedelta(seconds=10)


@dataclasses.dataclass(frozen=True)
class ExecutionTimeouts:
    """The timeouts of the activities that run handlers and heartbeat.

    Attributes:
        heartbeat_timeout: A worker silent for this long is presumed dead.
        handler_limit: The longest a handler may run in one attempt.
    """

    heartbeat_timeout: timedelta
    handler_limit: timedelta

    @property
    def start_to_close(self) -> timedelta:
        """The backstop: the handler's limit, two heartbeat timeouts and a margin."""
        return self.handler_limit + 2 * self.heartbeat_timeout + BACKSTOP_MARGIN

    def apply(self, input: StartActivityInput) -> StartActivityInput:
        """``input`` with these timeouts when it starts a heartbeating activity; else unchanged."""
        if input.activity not in HEARTBEATING_ACTIVITIES:
            return input
        return dataclasses.replace(
            input,
            heartbeat_timeout=self.heartbeat_timeout,
            start_to_close_timeout=self.start_to_close,
            schedule_to_close_timeout=None,
        )


class ExecutionTimeoutsInterceptor(Interceptor):
    """Sets the worker's execution timeouts on every heartbeating activity a workflow starts."""

    def __init__(self, timeouts: ExecutionTimeouts) -> None:
        """Apply ``timeouts``."""
        self.timeouts = timeouts

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        """The inbound interceptor that installs the outbound one setting the timeouts."""
        timeouts = self.timeouts

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
                return super().start_activity(timeouts.apply(input))

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound
