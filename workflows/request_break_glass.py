"""The request's side of break-glass: a refused break-glass submit stores nothing.

The evaluation refuses a break-glass submit (``break_glass_refused``) by someone holding
none of the app's break-glass roles, or in an app that declares no break-glass, before any
policy runs. The request then ends without a single save: the admission update fails with
the refusal (the caller's exit code 1), and ``mutator show`` finds no such request. An
accepted break-glass request goes on like any other, with the break-glass quorum as its
approval requirement (``mutator.break_glass``). New in this version
(``workflow.patched("break-glass")``): no earlier request asked for break-glass.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from mutator.workflows.request_record import RequestRecord

with workflow.unsafe.imports_passed_through():
    from mutator.contracts import ERR_BREAK_GLASS_REFUSED, EvaluateResult, RequestWorkflowResult
    from mutator.decisions import EvaluationOutcome

BREAK_GLASS_PATCH = "break-glass"


class RequestBreakGlass(RequestRecord):
    """Ending a refused break-glass submit without storing it."""

    break_glass_refusal: str

    def refuse_break_glass(self, evaluation: EvaluateResult | None) -> bool:
        """Whether ``evaluation`` refused break-glass; then the refusal is kept, not saved."""
        if evaluation is None or evaluation.outcome != EvaluationOutcome.BREAK_GLASS_REFUSED:
            return False
        if not workflow.patched(BREAK_GLASS_PATCH):
            return False  # unreachable: no earlier evaluation refused break-glass
        self.break_glass_refusal = evaluation.reason or "break-glass refused"
        workflow.set_current_details(f"**refused**\n\n{self.break_glass_refusal}")
        return True

    def raise_break_glass_refusal(self) -> None:
        """Fail the admission update with the refusal, if break-glass was refused.

        Raises:
            ApplicationError: ``ERR_BREAK_GLASS_REFUSED`` with the refusal.
        """
        if self.break_glass_refusal:
            raise ApplicationError(
                self.break_glass_refusal, type=ERR_BREAK_GLASS_REFUSED, non_retryable=True
            )

    async def break_glass_refused(self) -> RequestWorkflowResult:
        """The workflow's result for a refused break-glass submit (nothing stored)."""
        return await self.ended_unsaved(
            f"{EvaluationOutcome.BREAK_GLASS_REFUSED.value}: {self.break_glass_refusal}"
        )
