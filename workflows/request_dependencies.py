"""The request's side of its dependencies (``submit --after``): wait until each has ended.

The submit's signature is checked first (``mutator.verify_submit``). The request then
records ``pending`` (reason ``dependency``), answers its submission, and runs
one ``mutator.await_dependency`` activity per dependency, on the dependencies' own task
queue (``<task queue>-dependencies``). Each activity returns when its dependency has ended,
however it ended; the lifecycle passes that dependency's gate or rejects the request
(``dependency_failed``). A cancel meanwhile ends the wait: the activities still running are
canceled. New in this version: requests started before it never name dependencies.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from mutator.workflows.request_notify import RequestNotify

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.contracts import (
        AWAIT_DEPENDENCY_ACTIVITY,
        DEPENDENCY_QUEUE_SUFFIX,
        VERIFY_SUBMIT_ACTIVITY,
        AwaitDependencyInput,
        AwaitDependencyResult,
        VerifySubmitInput,
        VerifyVoteResult,
    )
    from mutator.models import RejectionCode, RequestStatus

DEPENDENCIES_PATCH = "dependencies"

# A dependency may wait days for its approvals: the wait has no practical limit, and a
# worker that dies is noticed by the heartbeat timeout (the wait resumes on another one).
DEPENDENCY_WAIT_LIMIT = timedelta(days=365)
DEPENDENCY_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
DEPENDENCY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


class RequestDependencies(RequestNotify):
    """Waiting, ``pending`` (dependency), until every request named by ``after`` has ended."""

    admitted: bool
    submit_envelope: dict[str, Any] | None
    submit_signature: str | None
    submit_checked: bool

    def has_dependencies(self) -> bool:
        """Whether the request names dependencies (and this version waits for them)."""
        return bool(self.request.after) and workflow.patched(DEPENDENCIES_PATCH)

    async def await_dependencies(self) -> None:
        """Check the submit's signature, record the wait, answer the submission, and wait.

        The signature first: the ``submitted`` decision is stored with its proof, and a
        refused one rejects the request at once (``signature_refused``). The wait is over
        when every dependency is executed (the request then has no pending reason and is
        evaluated next), one is not (``rejected``), or the request was canceled.
        """
        checked: VerifyVoteResult = await workflow.execute_activity(
            VERIFY_SUBMIT_ACTIVITY,
            VerifySubmitInput(
                request=self.request,
                envelope=self.submit_envelope,
                signature=self.submit_signature,
                submitted_at=workflow.info().workflow_start_time or workflow.now(),
            ),
            result_type=VerifyVoteResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.learn_webhooks(checked.webhooks)
        if checked.refusal is not None:
            self.took(
                lifecycle.reject(
                    self.request, RejectionCode.SIGNATURE_REFUSED, checked.refusal, workflow.now()
                )
            )
            await self.save()
            self.admitted = True
            return
        self.submit_checked = True
        if checked.proof is not None:
            lifecycle.sign_submission(self.request, checked.proof)
        self.took(lifecycle.await_dependencies(self.request, workflow.now()))
        await self.save()
        self.admitted = True
        await self.notify_change()
        activities = [
            workflow.start_activity(
                AWAIT_DEPENDENCY_ACTIVITY,
                AwaitDependencyInput(request_id=name, dependent_id=self.request.request_id),
                result_type=AwaitDependencyResult,
                task_queue=workflow.info().task_queue + DEPENDENCY_QUEUE_SUFFIX,
                start_to_close_timeout=DEPENDENCY_WAIT_LIMIT,
                heartbeat_timeout=DEPENDENCY_HEARTBEAT_TIMEOUT,
                retry_policy=DEPENDENCY_RETRY,
            )
            for name in self.request.after
        ]
        settles = [
            asyncio.ensure_future(self._settle(name, waiting))
            for name, waiting in zip(self.request.after, activities, strict=True)
        ]
        await workflow.wait_condition(
            lambda: (
                self.request.status != RequestStatus.PENDING
                or lifecycle.dependencies_met(self.request)
            )
        )
        # Only the waits still running: an outcome being recorded and saved finishes.
        for waiting in activities:
            if not waiting.done():
                waiting.cancel()
        await asyncio.gather(*settles, return_exceptions=True)

    async def _settle(
        self, name: str, waiting: workflow.ActivityHandle[AwaitDependencyResult]
    ) -> None:
        ended = await waiting
        effect = self.took(
            lifecycle.dependency_ended(
                self.request, name, ended.status, workflow.now(), why=ended.why
            )
        )
        if effect.decisions:
            self.show_progress()
            await self.save()
