"""The request's side of supersede: ending older requests, and being ended by a newer one.

**Newer.** A request whose mutation declares ``supersede=True`` runs
``mutator.supersede_older`` once its policies admitted it (allowed, or asked for approvals),
before it answers its submission, and records ``supersedes`` with the ids that ended.

**Older.** The ``supersede`` update decides, in this workflow (the single writer of its
request), atomically with respect to its own start of execution:

- still being evaluated: it waits for the evaluation first (which may execute it directly);
- ``mutator.verify_supersede`` checks the asking request's authority in the store;
- ``pending`` (any gate): ``superseded`` at once; the wait it was in ends;
- ``approved``: the main line ends it before it queues, or, queued on the state's lane, asks
  the lane to withdraw it. The lane decides (it gives the turns): still queued, the entry is
  removed and the request is ``superseded``; its turn came already, it executes and is not;
- executing, a batch, or final: never superseded.

New in this version (``workflow.patched("supersede")``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from mutator.workflows.messages import update_message
from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.lane_contracts import LaneOutcome
    from mutator.models import RequestStatus
    from mutator.supersede_contracts import (
        SUPERSEDE_OLDER_ACTIVITY,
        SUPERSEDE_PATCH,
        SUPERSEDE_UPDATE,
        VERIFY_SUPERSEDE_ACTIVITY,
        SupersedeInput,
        SupersedeOlderInput,
        SupersedeOlderResult,
        SupersedeResult,
        VerifySupersedeInput,
        VerifySupersedeResult,
    )

# The older requests may each wait for their evaluation or their lane's answer.
SUPERSEDE_OLDER_TIMEOUT = timedelta(minutes=10)


class RequestSupersede(RequestRecord):
    """Supersede: the newer request's step, and the older request's ``supersede`` update."""

    admitted: bool
    lane_queued: bool
    # The first evaluation said the mutation declares supersede=True.
    supersede_declared: bool
    # The newer request that asked to end this approved one; the main line acts on it.
    supersede_asked: str | None

    # -- newer -----------------------------------------------------------------------------

    async def supersede_older(self) -> None:
        """Once admitted, end the older requests of this state and mutation; record them."""
        req = self.request
        if not self.supersede_declared or not lifecycle.admitted_by_policies(req):
            return
        if not workflow.patched(SUPERSEDE_PATCH):
            return
        result: SupersedeOlderResult = await workflow.execute_activity(
            SUPERSEDE_OLDER_ACTIVITY,
            SupersedeOlderInput(
                request_id=req.request_id,
                state_id=req.state_id,
                mutation=req.mutation,
                created_at=req.created_at,
            ),
            result_type=SupersedeOlderResult,
            start_to_close_timeout=SUPERSEDE_OLDER_TIMEOUT,
        )
        effect = self.took(
            lifecycle.record_supersedes(self.request, result.superseded, workflow.now())
        )
        if effect.decisions:
            self.show_progress()
            await self.save()

    # -- older -----------------------------------------------------------------------------

    @workflow.update(name=SUPERSEDE_UPDATE)
    async def supersede(self, *args: Any) -> SupersedeResult:
        """A newer request asks this one to end; answers whether it did."""
        input = update_message(SupersedeInput, args)
        by = input.by
        if not workflow.patched(SUPERSEDE_PATCH):
            return self._kept("this request's history has no supersede")
        await workflow.wait_condition(lambda: self.admitted)
        refusal = lifecycle.supersede_refusal(self.request, by)
        if refusal is not None or self.request.status == RequestStatus.SUPERSEDED:
            return self._answer(by, refusal)
        checked: VerifySupersedeResult = await workflow.execute_activity(
            VERIFY_SUPERSEDE_ACTIVITY,
            VerifySupersedeInput(request=self.request, by=by),
            result_type=VerifySupersedeResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        if checked.refusal is not None:
            return self._kept(f"{by} may not supersede it: {checked.refusal}")
        return await self._end_when_safe(by)

    @supersede.validator
    def _validate_supersede(self, *args: Any) -> None:
        update_message(SupersedeInput, args)

    async def _end_when_safe(self, by: str) -> SupersedeResult:
        """Supersede now if pending; if approved, have the main line or the lane decide."""
        while True:
            # Votes are refused and nothing executes while the request is (re)evaluated.
            await workflow.wait_condition(lambda: self.admitted)
            refusal = lifecycle.supersede_refusal(self.request, by)
            status = self.request.status
            if refusal is not None or status == RequestStatus.SUPERSEDED:
                return self._answer(by, refusal)
            if status == RequestStatus.PENDING:
                self.took(lifecycle.superseded(self.request, by, workflow.now()))
                await self.save()
                return self._answer(by, None)
            if self.supersede_asked not in (None, by):
                await workflow.wait_condition(lambda: self.supersede_asked is None)
                continue
            self.supersede_asked = by
            session = self.lanes.get(self.request.state_id)
            if session is not None:
                await session.withdraw()
            await workflow.wait_condition(
                lambda: self.request.status != RequestStatus.APPROVED or self._turn_came()
            )
            if self.request.status == RequestStatus.APPROVED:
                self.supersede_asked = None
                return self._kept("its turn on the lane came: it is executing")
            if self.request.status != RequestStatus.SUPERSEDED:
                self.supersede_asked = None

    def _turn_came(self) -> bool:
        session = self.lanes.get(self.request.state_id)
        return session is not None and session.too_late

    def _answer(self, by: str, refusal: str | None) -> SupersedeResult:
        if self.request.status == RequestStatus.SUPERSEDED and self.request.superseded_by == by:
            return SupersedeResult(request_id=self.request.request_id, superseded=True)
        if self.request.status == RequestStatus.SUPERSEDED:
            return self._kept(f"superseded by {self.request.superseded_by} already")
        return self._kept(refusal or f"it is {self.request.status.value}")

    def _kept(self, why: str) -> SupersedeResult:
        return SupersedeResult(request_id=self.request.request_id, superseded=False, reason=why)

    # -- the main line's checks (approved) ----------------------------------------------------

    async def end_if_superseded(self) -> bool:
        """Before the request queues: end it if a newer request asked to (True when it did)."""
        by = self.supersede_asked
        if by is None or self.request.status != RequestStatus.APPROVED:
            return False
        if self.lane_queued:
            # The evaluation joined the lane for us: leave it, so the lane never waits on us.
            await self.lane(self.request.state_id).leave()
            self.lane_queued = False
        self.took(lifecycle.superseded(self.request, by, workflow.now()))
        self.supersede_asked = None
        await self.save()
        return True

    def withdraw_asked(self) -> bool:
        """Whether a supersede waits for the lane to withdraw us (asked while we joined)."""
        return self.supersede_asked is not None

    async def withdrawn_from_lane(self, outcome: LaneOutcome) -> bool:
        """The lane withdrew our queued execution: the request is superseded (True)."""
        by = self.supersede_asked
        if outcome.withdrawal != "withdrawn" or by is None:
            return False
        self.took(lifecycle.superseded(self.request, by, workflow.now()))
        self.supersede_asked = None
        await self.save()
        return True
