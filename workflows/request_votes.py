"""Votes on a request (approve, reject, cancel), as updates or as signals, whatever they carry.

Updates answer their caller, so bad input and refusals fail the update. Signals cannot
answer, so a refused one is recorded as a ``refused_attempt`` decision instead, clipped,
and only the first MAX_REFUSED_ATTEMPTS_KEPT of them (``mutator.lifecycle``): a flood of
refused signals must not grow the request record (and every save and execution that
carries it) without bound.

Signatures (``identity="signed"``, docs/security.md): an update's validator checks the
vote's signature against the worker's identity settings, which validators may read since
they never replay (``mutator.identity.registry``). A signal has no validator, and its
handler replays, so it asks the ``mutator.verify_vote`` activity, whose answer the history
keeps. Either way the handler records the vote's proof on its decision, after re-checking
only pure things: the lifecycle's refusal and that the signature still fits the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
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
        VERIFY_VOTE_ACTIVITY,
        ApproveInput,
        CancelInput,
        RejectInput,
        VerifyVoteInput,
        VerifyVoteResult,
    )
    from mutator.identity import registry
    from mutator.identity.checks import signature_refusal
    from mutator.identity.requests import proof_of
    from mutator.identity.verify import SignatureRefused
    from mutator.models import SignedProof
    from mutator.overrides import OverrideInput

MAX_REFUSED_ATTEMPTS_KEPT = lifecycle.MAX_REFUSED_ATTEMPTS_KEPT

Vote = TypeVar("Vote", ApproveInput, RejectInput, CancelInput, OverrideInput)
AnyVote = ApproveInput | RejectInput | CancelInput | OverrideInput

_TEXT_LIMITS = {
    ApproveInput: {"actor": MAX_ACTOR_CHARS, "comment": MAX_TEXT_CHARS},
    RejectInput: {"actor": MAX_ACTOR_CHARS, "reason": MAX_TEXT_CHARS},
    CancelInput: {"actor": MAX_ACTOR_CHARS, "reason": MAX_TEXT_CHARS},
    OverrideInput: {"actor": MAX_ACTOR_CHARS, "reason": MAX_TEXT_CHARS},
}


VoteAction = Literal["approve", "reject", "cancel", "override"]

VERIFY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))


def vote_text(vote: AnyVote) -> str:
    """What the vote says: an approval's comment, a rejection's, cancel's or override's reason."""
    return vote.comment if isinstance(vote, ApproveInput) else vote.reason


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

    def signature_check(self, action: VoteAction, vote: AnyVote) -> str | None:
        """An update validator's signature check: why the vote's signature is refused, or None.

        Reads the worker's identity settings (a validator never replays), checks with the
        workflow's time.
        """
        refusal, _ = signature_refusal(
            registry.lookup(workflow.info().task_queue),
            self.request,
            action,
            actor=vote.actor,
            comment=vote_text(vote),
            envelope=vote.envelope,
            signature=vote.signature,
            now=workflow.now(),
        )
        return refusal

    def update_proof(self, vote: AnyVote) -> SignedProof | None:
        """The proof an update's handler records: its signature, which its validator checked.

        Pure, so it replays. Raises the update's refusal should the handler see a signature
        its validator never checked.
        """
        envelope, signature = vote.envelope, vote.signature
        if envelope is None and signature is None:
            return None
        if envelope is None or signature is None:
            raise ApplicationError(
                "signature refused: an envelope and its signature go together",
                type=ERR_REFUSED,
                non_retryable=True,
            )
        try:
            return proof_of(envelope, signature)
        except SignatureRefused as exc:
            raise ApplicationError(str(exc), type=ERR_REFUSED, non_retryable=True) from None

    async def vote_by_signal(
        self,
        action: VoteAction,
        model: type[Vote],
        args: Sequence[Any],
        refuse: Callable[[Vote, SignedProof | None], str | None],
        accept: Callable[[Vote, SignedProof | None], None],
    ) -> None:
        """Apply a vote sent as a signal, or record why it is refused, then save."""
        try:
            vote = parse_message(model, args, max_chars=_TEXT_LIMITS[model])
        except BadMessage as exc:
            changed = self.record_refused_attempt(claimed_actor(args), f"{action}: {exc}")
        else:
            if workflow.patched("signed-signals"):
                refusal = await self._verified_signal(action, vote, refuse, accept)
            else:
                refusal = refuse(vote, None)
                if refusal is None:
                    accept(vote, None)
            if refusal is None:
                changed = True
            else:
                changed = self.record_refused_attempt(vote.actor, f"{action}: {refusal}")
        # Histories from before the cap saved after every refused attempt.
        if changed or not workflow.patched("refused-attempts-capped"):
            await self.save()

    async def _verified_signal(
        self,
        action: VoteAction,
        vote: Vote,
        refuse: Callable[[Vote, SignedProof | None], str | None],
        accept: Callable[[Vote, SignedProof | None], None],
    ) -> str | None:
        """Record a signalled vote whose signature the worker verified; else why not.

        The lifecycle refuses first (no activity for a vote that cannot count); the
        ``mutator.verify_vote`` activity then checks the signature, or its absence, under the
        worker's identity settings, and the lifecycle is asked again with the proof, since
        the request may have moved while the activity ran.
        """
        refusal = refuse(vote, None)
        if refusal is not None:
            return refusal
        verdict: VerifyVoteResult = await workflow.execute_activity(
            VERIFY_VOTE_ACTIVITY,
            VerifyVoteInput(
                action=action,
                actor=vote.actor,
                comment=vote_text(vote),
                envelope=vote.envelope,
                signature=vote.signature,
                request=self.request,
            ),
            result_type=VerifyVoteResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=VERIFY_RETRY,
        )
        refusal = verdict.refusal or refuse(vote, verdict.proof)
        if refusal is None:
            accept(vote, verdict.proof)
        return refusal

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

    def approval_refusal(self, input: ApproveInput, proof: SignedProof | None = None) -> str | None:
        """Why this approve is refused now, or None."""
        return lifecycle.approve_refusal(self.request, input, admitted=self.admitted, proof=proof)

    def rejection_refusal(self, input: RejectInput, proof: SignedProof | None = None) -> str | None:
        """Why this reject is refused now, or None."""
        return lifecycle.reject_refusal(self.request, input, admitted=self.admitted, proof=proof)

    def cancel_refusal(self, input: CancelInput, proof: SignedProof | None = None) -> str | None:
        """Why this cancel is refused now, or None."""
        return lifecycle.cancel_refusal(self.request, input, admitted=self.admitted, proof=proof)

    def record_approval(self, input: ApproveInput, proof: SignedProof | None = None) -> None:
        """Add an accepted approval, with its signature's proof when signed."""
        self.took(
            lifecycle.approve(
                self.request, input, workflow.now(), admitted=self.admitted, proof=proof
            )
        )
        self.show_progress()

    def record_rejection(self, input: RejectInput, proof: SignedProof | None = None) -> None:
        """Reject the request by an accepted approver's vote."""
        self.took(
            lifecycle.reject_vote(
                self.request, input, workflow.now(), admitted=self.admitted, proof=proof
            )
        )

    def record_cancel(self, input: CancelInput, proof: SignedProof | None = None) -> None:
        """Cancel the request by an accepted cancel."""
        self.took(
            lifecycle.cancel(
                self.request, input, workflow.now(), admitted=self.admitted, proof=proof
            )
        )
