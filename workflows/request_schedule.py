"""The request's side of the schedule gate: wait, ``pending`` (schedule), until it opens.

An execution that found the schedule closed (a change window, a freeze, ``not_before``)
left the request ``pending`` with ``scheduled_for``, the schedule's next open time. Once
that is stored, ``mutator.check_schedule`` reads the schedule again (a freeze may have
ended in between, before ``freeze end`` could find the request waiting). The request then
waits on a durable timer until the schedule's next open time, or until a ``schedule_changed`` signal
(``freeze end``) or a cancel; it then becomes ``approved`` again and executes, which checks
the schedule again. New in this version (``workflow.patched("schedule-gate")``): requests
started before it never found a schedule closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from mutator.workflows.messages import internal_message
from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.contracts import (
        CHECK_SCHEDULE_ACTIVITY,
        SCHEDULE_CHANGED_SIGNAL,
        CheckScheduleInput,
        CheckScheduleResult,
        ScheduleChanged,
    )

SCHEDULE_PATCH = "schedule-gate"


class RequestSchedule(RequestRecord):
    """Waiting, ``pending`` (schedule), until the schedule's next open time or a change."""

    schedule_changes: int  # signals received while waiting for the schedule
    schedule_changes_seen: int  # of those, the ones a wait has ended on
    schedule_change_reason: str

    @workflow.signal(name=SCHEDULE_CHANGED_SIGNAL)
    def schedule_changed(self, *args: Any) -> None:
        """The schedule changed (a freeze ended): a request waiting for it executes now."""
        changed = internal_message(ScheduleChanged, args, SCHEDULE_CHANGED_SIGNAL)
        if changed is None or not lifecycle.waiting_for_schedule(self.request):
            return
        # Counted from the moment the request is pending (schedule), before its wait starts.
        self.schedule_changes = self.schedule_changes + 1
        self.schedule_change_reason = changed.reason or "the schedule changed"

    async def await_schedule(self, until: datetime) -> None:
        """Wait until ``until``, a ``schedule_changed`` signal or the request's end.

        Then the request is ``approved`` again (``schedule_open``) and saved; canceled
        meanwhile, it is left as it is.
        """
        if not workflow.patched(SCHEDULE_PATCH):
            # Unreachable in practice: executions before this version never refused a
            # closed schedule. Kept so that such a history cannot loop.
            why = "the schedule gate is not in this history"
            self.took(lifecycle.fail(self.request, why, workflow.now()))
            await self.save()
            return
        self.show_progress()
        # Read once the request is stored as waiting: a freeze ended before this read is
        # seen here, one ended after it finds the request and signals it.
        checked: CheckScheduleResult = await workflow.execute_activity(
            CHECK_SCHEDULE_ACTIVITY,
            CheckScheduleInput(request=self.request),
            result_type=CheckScheduleResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        status = checked.schedule
        if status.open:
            until = workflow.now()
        elif status.next_open is not None:
            until = status.next_open
        remaining = (until - workflow.now()).total_seconds()
        why = f"the schedule opened at {until.isoformat()}"
        if remaining > 0:
            try:
                await workflow.wait_condition(
                    lambda: (
                        self.schedule_changes > self.schedule_changes_seen
                        or not lifecycle.waiting_for_schedule(self.request)
                    ),
                    timeout=remaining,
                )
                why = f"{self.schedule_change_reason}: executes again"
            except TimeoutError:
                pass
        self.schedule_changes_seen = self.schedule_changes
        effect = self.took(lifecycle.schedule_open(self.request, workflow.now(), why))
        if effect.transition is not None:
            await self.save()
