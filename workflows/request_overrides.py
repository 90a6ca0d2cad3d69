"""Overrides of a request's soft denials: the ``override`` update and ``override_signal``.

An override is a vote of its own kind (``mutator.lifecycle.overrides`` says who may give it
and what it does): the update's validator refuses it at once (nothing recorded) when the
actor is not eligible, the reason is blank or nothing waits for an override; the signal
records a refused one as a ``refused_attempt``. In signed mode it carries the actor's
envelope with action ``override`` and the reason as its comment, checked like a vote's.

New in this version (``workflow.patched("policy-override")``): the marker is recorded when
a request's evaluation has soft denials or warnings; histories from before had none.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from mutator.workflows.request_votes import RequestVotes, raise_if, update_input

with workflow.unsafe.imports_passed_through():
    from mutator import lifecycle
    from mutator.contracts import EvaluateResult, RequestUpdateResult
    from mutator.models import SignedProof
    from mutator.overrides import OverrideInput

OVERRIDE_PATCH = "policy-override"
OVERRIDE_SIGNAL = "override_signal"


class RequestOverrides(RequestVotes):
    """Soft denials, overridden by an update or a signal; advisory warnings."""

    def admitted_policies(self, evaluation: EvaluateResult) -> EvaluateResult:
        """An evaluation with its overrides and warnings only where this version takes them."""
        if (evaluation.overrides or evaluation.warnings) and not workflow.patched(OVERRIDE_PATCH):
            return evaluation.model_copy(update={"overrides": [], "warnings": []})
        return evaluation

    @workflow.update(name="override")
    async def override(self, *args: Any) -> RequestUpdateResult:
        """Override the request's soft deny; refused (nothing recorded) unless it counts."""
        given = update_input(OverrideInput, args)
        proof = self.update_proof(given)
        raise_if(self.override_refusal(given, proof))  # again: the request may have moved
        self.record_override(given, proof)
        await self.save()
        return RequestUpdateResult(request=self.request)

    @override.validator
    def _validate_override(self, *args: Any) -> None:
        given = update_input(OverrideInput, args)
        raise_if(self.signature_check("override", given) or self.override_refusal(given))

    @workflow.signal(name=OVERRIDE_SIGNAL)
    async def override_signal(self, *args: Any) -> None:
        """Override, fire-and-forget: a refusal is recorded as a refused attempt."""
        await self.vote_by_signal(
            "override", OverrideInput, args, self.override_refusal, self.record_override
        )

    def override_refusal(
        self, given: OverrideInput, proof: SignedProof | None = None
    ) -> str | None:
        """Why this override is refused now, or None."""
        return lifecycle.override_refusal(self.request, given, admitted=self.admitted, proof=proof)

    def record_override(self, given: OverrideInput, proof: SignedProof | None = None) -> None:
        """Record an accepted override, with its signature's proof when signed."""
        self.took(
            lifecycle.override(
                self.request, given, workflow.now(), admitted=self.admitted, proof=proof
            )
        )
        self.show_progress()
