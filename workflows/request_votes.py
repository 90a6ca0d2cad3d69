"""Votes on a request (approve, reject, cancel), as updates or as signals, whatever they carry.

Updates answer their caller, so bad input and refusals fail the update. Signals cannot
answer, so a refused one is recorded as a ``refused_attempt`` decision instead, clipped,
and only the first MAX_REFUSED_ATTEMPTS_KEPT of them (``mutator.lifecycle``): a flood of
refused signals must not grow the request record (and every save and execution that
carries it) without bound.
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
    from mutator import lifecycle
    from mutator.contracts import (
        ERR_REFUSED,
        MAX_ACTOR_CHARS,
        MAX_TEXT_CHARS,
        ApproveInput,
        CancelInput,
        RejectInput,
    )

MAX_REFUSED_ATTEMPTS_KEPT = lifecycle.MAX_REFUSED_ATTEMPTS_KEPT

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
    """Fail the update with ``refusal``, if there is one."""
    if refusal:
        raise ApplicationError(refusal, type=ERR_REFUSED, non_retryable=True)


class RequestVotes(RequestRecord):
    """Approve, reject and cancel: ``mutator.lifecycle`` says which count and what they do."""

    admitted: bool

    async def vote_by_signal(
        self,
        action: str,
        model: type[Vote],
        args: Sequence[Any],
        refuse: Callable[[Vote], str | None],
        accept: Callable[[Vote], None],
    ) -> None:
        """Apply a vote sent as a signal, or record why it is refused, then save."""
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
        effect = lifecycle.refused_attempt(
            self.request,
            clip(actor, MAX_ACTOR_CHARS),
            clip(reason, MAX_RECORDED_CHARS),
            workflow.now(),
        )
        return bool(self.took(effect).decisions)

    # -- rules: mutator.lifecycle -------------------------------------------------------

    def approval_refusal(self, input: ApproveInput) -> str | None:
        """Why this approve is refused now, or None."""
        return lifecycle.approve_refusal(self.request, input, admitted=self.admitted)

    def rejection_refusal(self, input: RejectInput) -> str | None:
        """Why this reject is refused now, or None."""
        return lifecycle.reject_refusal(self.request, input, admitted=self.admitted)

    def cancel_refusal(self, input: CancelInput) -> str | None:
        """Why this cancel is refused now, or None."""
        return lifecycle.cancel_refusal(self.request, input, admitted=self.admitted)

    def record_approval(self, input: ApproveInput) -> None:
        """Add an accepted approval."""
        self.took(lifecycle.approve(self.request, input, workflow.now(), admitted=self.admitted))
        self.show_progress()

    def record_rejection(self, input: RejectInput) -> None:
        """Reject the request by an accepted approver's vote."""
        self.took(
            lifecycle.reject_vote(self.request, input, workflow.now(), admitted=self.admitted)
        )

    def record_cancel(self, input: CancelInput) -> None:
        """Cancel the request by an accepted cancel."""
        self.took(lifecycle.cancel(self.request, input, workflow.now(), admitted=self.admitted))
