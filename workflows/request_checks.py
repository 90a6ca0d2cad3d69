"""The request's side of its external checks: reports as an update or a signal.

``check`` (the update the CLI and ``MutatorClient.check`` send) is refused by its validator
when the request does not require the check, the reporter is not eligible, the request no
longer waits, or the result differs from the one already reported; the caller gets the
refusal at once and nothing is recorded. A repeat of the recorded result is accepted and
changes nothing. ``check_signal`` is the same report, fire-and-forget, for systems that only
signal: a refused one is recorded as a ``refused_attempt`` and counts for nothing; one the
lifecycle accepts is checked by the ``mutator.verify_vote`` activity (its signature, or its
absence in signed mode) before it counts, as a signalled vote is. In signed mode a report
carries the reporter's envelope with action ``check`` and comment ``check_comment``.

New in this version (``workflow.patched("external-checks")``): the marker is recorded when a
request's evaluation requires checks; histories from before never required any.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
        EvaluateResult,
        RequestUpdateResult,
        VerifyVoteInput,
        VerifyVoteResult,
    )
    from mutator.external_checks import MAX_CHECK_NAME_CHARS, CheckReport, check_comment
    from mutator.identity import registry
    from mutator.identity.checks import signature_refusal
    from mutator.identity.requests import proof_of
    from mutator.identity.verify import SignatureRefused
    from mutator.lifecycle.checks import is_repeat
    from mutator.models import SignedProof

CHECKS_PATCH = "external-checks"
CHECK_SIGNAL = "check_signal"

_LIMITS = {"actor": MAX_ACTOR_CHARS, "name": MAX_CHECK_NAME_CHARS, "details": MAX_TEXT_CHARS}
VERIFY_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))


def _refuse(refusal: str | None) -> None:
    if refusal:
        raise ApplicationError(refusal, type=ERR_REFUSED, non_retryable=True)


def _comment(report: CheckReport) -> str:
    return check_comment(report.name, report.result, report.details)


class RequestChecks(RequestRecord):
    """External checks: ``mutator.lifecycle.checks`` says which reports count, what they do."""

    admitted: bool

    def admitted_checks(self, evaluation: EvaluateResult) -> EvaluateResult:
        """The first evaluation, with its checks only where this version takes them."""
        if evaluation.checks and not workflow.patched(CHECKS_PATCH):
            return evaluation.model_copy(update={"checks": []})
        return evaluation

    @workflow.update(name="check")
    async def check(self, *args: Any) -> RequestUpdateResult:
        """Report an external check's result; refused (nothing recorded) unless it counts."""
        report = update_message(CheckReport, args, max_chars=_LIMITS)
        proof = self._update_proof(report)
        _refuse(self._report_refusal(report, proof))  # again: the request may have moved
        if not is_repeat(self.request, report):
            self._record_report(report, proof)
            await self.save()
        return RequestUpdateResult(request=self.request)

    @check.validator
    def _validate_check(self, *args: Any) -> None:
        report = update_message(CheckReport, args, max_chars=_LIMITS)
        refusal, _ = signature_refusal(
            registry.lookup(workflow.info().task_queue),
            self.request,
            "check",
            actor=report.actor,
            comment=_comment(report),
            envelope=report.envelope,
            signature=report.signature,
            now=workflow.now(),
        )
        _refuse(refusal or self._report_refusal(report))

    @workflow.signal(name=CHECK_SIGNAL)
    async def check_signal(self, *args: Any) -> None:
        """Report a check, fire-and-forget: a refusal is recorded as a refused attempt."""
        try:
            report = parse_message(CheckReport, args, max_chars=_LIMITS)
        except BadMessage as exc:
            await self._refused(claimed_actor(args), f"check: {exc}")
            return
        refusal = self._report_refusal(report)
        if refusal is None and is_repeat(self.request, report):
            return
        if refusal is None:
            refusal = await self._verified(report)
        if refusal is not None:
            await self._refused(report.actor, f"check: {refusal}")
            return
        await self.save()

    async def _verified(self, report: CheckReport) -> str | None:
        """Record a signalled report whose signature (or its absence) the worker accepts."""
        verdict: VerifyVoteResult = await workflow.execute_activity(
            VERIFY_VOTE_ACTIVITY,
            VerifyVoteInput(
                action="check",
                actor=report.actor,
                comment=_comment(report),
                envelope=report.envelope,
                signature=report.signature,
                request=self.request,
            ),
            result_type=VerifyVoteResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=VERIFY_RETRY,
        )
        # Asked again with the proof: the request may have moved while the activity ran.
        refusal = verdict.refusal or self._report_refusal(report, verdict.proof)
        if refusal is None and not is_repeat(self.request, report):
            self._record_report(report, verdict.proof)
        return refusal

    async def _refused(self, actor: str, reason: str) -> None:
        """Record a refused signal (within the cap), and save when it was recorded."""
        effect = lifecycle.refused_attempt(
            self.request,
            clip(actor, MAX_ACTOR_CHARS),
            clip(reason, MAX_RECORDED_CHARS),
            workflow.now(),
        )
        if self.took(effect).decisions:
            await self.save()

    def _report_refusal(self, report: CheckReport, proof: SignedProof | None = None) -> str | None:
        return lifecycle.report_refusal(self.request, report, admitted=self.admitted, proof=proof)

    def _record_report(self, report: CheckReport, proof: SignedProof | None) -> None:
        self.took(
            lifecycle.report_check(
                self.request, report, workflow.now(), admitted=self.admitted, proof=proof
            )
        )
        self.show_progress()

    def _update_proof(self, report: CheckReport) -> SignedProof | None:
        """The proof the handler records: the signature its validator checked (pure)."""
        if report.envelope is None and report.signature is None:
            return None
        if report.envelope is None or report.signature is None:
            _refuse("signature refused: an envelope and its signature go together")
            return None
        try:
            return proof_of(report.envelope, report.signature)
        except SignatureRefused as exc:
            raise ApplicationError(str(exc), type=ERR_REFUSED, non_retryable=True) from None
