"""The request's side of the quota gate: ``pending`` (quota) until its next slot frees.

An execution that found its mutation's quota full (``on_exceeded="wait"``) left the
request ``pending`` with ``scheduled_for``, when the oldest use that has to leave the
window leaves it. The request waits on a durable timer until then (or until it is
canceled), becomes ``approved`` again (``quota_free``) and executes, which takes a slot
again. New in this version (``workflow.patched("quota-gate")``): requests started before
it never found a quota full.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from temporalio import workflow

from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle

QUOTA_PATCH = "quota-gate"


class RequestQuota(RequestRecord):
    """Waiting, ``pending`` (quota), until the quota's next slot frees."""

    async def await_quota(self, until: datetime) -> None:
        """Wait until ``until`` or the request's end (a cancel); then ``approved`` again."""
        if not workflow.patched(QUOTA_PATCH):
            # Unreachable in practice: executions before this version never found a quota
            # full. Kept so that such a history cannot loop.
            why = "the quota gate is not in this history"
            self.took(lifecycle.fail(self.request, why, workflow.now()))
            await self.save()
            return
        self.show_progress()
        remaining = (until - workflow.now()).total_seconds()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not lifecycle.waiting_for_quota(self.request), timeout=remaining
                )
        effect = self.took(lifecycle.quota_free(self.request, workflow.now()))
        if effect.transition is not None:
            await self.save()
