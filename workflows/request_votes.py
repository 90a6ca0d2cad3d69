"""Votes on a request (approve, reject, cancel), as updates or as signals, whatever they carry.

Updates answer their caller, so bad input and refusals fail the update. Signals cannot
answer, so a refused one is recorded as a ``refused_attempt`` decision instead, clipped,
and only the first MAX_REFUSED_ATTEMPTS_KEPT of them: a flood of refused signals must not
grow the request record (and every save and execution that carries it) without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from mutator.workflows.messages import (
    MAX_RECORDED_CHARS,
    BadMessage,
    claimed_actor,
    clip,
    parse_message,
    update_message,
)
from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator import approvals as rules
    from mutator.contracts import (
        ERR_REFUSED,
        MAX_ACTOR_CHARS,
        MAX_TEXT_CHARS,
        ApproveInput,
        CancelInput,
        RejectInput,
    )
    from mutator.decisions import DecisionCode, SystemActor
    from mutator.models import Approval, DecisionCategory, RejectionCode, RequestStatus

MAX_REFUSED_ATTEMPTS_KEPT = 20

Vote = TypeVar("Vote", ApproveInput, RejectInput, CancelInput)

_TEXT_LIMITS = {
    ApproveInput: {"actor": MAX_ACTOR_CHARS, "comment": MAX_TEXT_CHARS},
    RejectInput: {"actor": MAX_ACTOR_CHARS, "reason": MAX_TEXT_CHARS},
    CancelInput: {"actor": MAX_ACTOR_CHARS, "reason": MAX_TEXT_CHARS},
}


def update_input(model: type[Vote], args: Sequence[Any]) -> Vote:
    """The update's input, or the ApplicationError its caller gets (nothing is recorded)."""
    return update_message(model, args, max_chars=_TEXT_LIMITS[model])


def raise_if(refusal: str | None) -> None:
    if refusal:
        raise ApplicationError(refusal, type=ERR_REFUSED, non_retryable=True)


class RequestVotes(RequestRecord):
    admitted: bool

    async def vote_by_signal(
        self,
        action: str,
        model: type[Vote],
        args: Sequence[Any],
        refuse: Callable[[Vote], str | None],
        accept: Callable[[Vote], None],
    ) -> None:
        try:
            vote = parse_message(model, args, max_chars=_TEXT_LIMITS[model])
        except BadMessage as exc:
            changed = self.record_refused_attempt(claimed_actor(args), f"{action}: {exc}")
        else:
            refusal = refuse(vote)
            if refusal is None:
                accept(vote)
                changed = True
            else:
                changed = self.record_refused_attempt(vote.actor, f"{action}: {refusal}")
        # Histories from before the cap saved after every refused attempt.
        if changed or not workflow.patched("refused-attempts-capped"):
            await self.save()

    def record_refused_attempt(self, actor: str, reason: str) -> bool:
        """Record a refused signal; False once the record holds as many as it keeps."""
        kept = sum(1 for d in self.request.decisions if d.code == DecisionCode.REFUSED_ATTEMPT)
        if kept < MAX_REFUSED_ATTEMPTS_KEPT:
            self.decide(
                DecisionCategory.APPROVAL,
                DecisionCode.REFUSED_ATTEMPT,
                clip(actor, MAX_ACTOR_CHARS),
                clip(reason, MAX_RECORDED_CHARS),
            )
            return True
        self.request.refused_attempts_not_recorded += 1
        if self.request.refused_attempts_not_recorded == 1:
            self.decide(
                DecisionCategory.APPROVAL,
                DecisionCode.REFUSED_ATTEMPTS_CAPPED,
                SystemActor.SYSTEM,
                f"{MAX_REFUSED_ATTEMPTS_KEPT} refused attempts are recorded; later ones are "
                "only counted (refused_attempts_not_recorded)",
            )
            return True
        return False

    # -- rules --------------------------------------------------------------------------

    def closed_refusal(self) -> str | None:
        status = self.request.status
        if not self.admitted:
            return "the request is still being evaluated; try again in a moment"
        if status != RequestStatus.PENDING:
            return f"request {self.request.request_id} is {status.value}; it no longer takes votes"
        return None

    def approval_refusal(self, input: ApproveInput) -> str | None:
        return self.closed_refusal() or rules.refuse_approval(
            self.request.required_approvals,
            self.request.requester,
            self.request.approvals,
            input.actor,
        )

    def rejection_refusal(self, input: RejectInput) -> str | None:
        if not input.reason.strip():
            return "reason must not be empty: say why the request is rejected"
        return self.closed_refusal() or rules.refuse_rejection(
            self.request.required_approvals, input.actor
        )

    def cancel_refusal(self, input: CancelInput) -> str | None:
        status = self.request.status
        if self.admitted and status != RequestStatus.PENDING:
            return (
                f"request {self.request.request_id} is {status.value}; it can no longer be canceled"
            )
        return self.closed_refusal() or rules.refuse_cancel(
            self.request.required_approvals, self.request.requester, input.actor
        )

    def record_approval(self, input: ApproveInput) -> None:
        self.request.approvals.append(
            Approval(actor=input.actor, comment=input.comment, at=workflow.now())
        )
        self.decide(DecisionCategory.APPROVAL, DecisionCode.APPROVED, input.actor, input.comment)
        self.show_progress()

    def record_rejection(self, input: RejectInput) -> None:
        self.decide(DecisionCategory.APPROVAL, DecisionCode.REJECTED, input.actor, input.reason)
        self.reject_with(RejectionCode.APPROVER_REJECTED, input.reason, input.actor)

    def record_cancel(self, input: CancelInput) -> None:
        self.set_status(
            RequestStatus.CANCELED, None, DecisionCode.CANCELED, input.actor, input.reason
        )
