"""What validators and policies made of a request (``Evaluation``), and of a batch as one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mutator.decisions import EvaluationOutcome
from mutator.external_checks import CheckRequirement, merge_checks
from mutator.limits import PayloadLimits
from mutator.models import ApprovalRequirement
from mutator.mutations import UnknownMutationError
from mutator.overrides import OverrideRequirement, PolicyWarning
from mutator.policies import PolicyContext


@dataclass(frozen=True)
class Evaluation:
    """Outcome of validators plus every matching policy for one request.

    ``overrides`` (soft denials) and ``checks`` come with outcome ``require_approvals``;
    ``warnings`` (advisory denials, policies that failed open) with any outcome.
    """

    outcome: EvaluationOutcome
    reason: str
    requirements: list[ApprovalRequirement]
    checks: list[CheckRequirement] = field(default_factory=list)
    overrides: list[OverrideRequirement] = field(default_factory=list)
    warnings: list[PolicyWarning] = field(default_factory=list)


def _labelled(label: str, warnings: list[PolicyWarning]) -> list[PolicyWarning]:
    return [w.model_copy(update={"reason": f"{label}: {w.reason}"}) for w in warnings]


def evaluate_batch(
    evaluate: Callable[[PolicyContext], Evaluation],
    has_quota: Callable[[str], bool],
    limits: PayloadLimits,
    contexts: Sequence[PolicyContext],
) -> Evaluation:
    """Decide a batch request as one: each item as ``evaluate`` does, then combined.

    Any invalid item (or an unknown mutation, or a mutation with a quota) makes the batch
    invalid, any denied item denies it; otherwise every distinct approval requirement of
    every item applies, and every soft denial (one override per policy). Every item's
    warnings are kept, each saying its item.
    """
    denials: list[str] = []
    requirements: list[ApprovalRequirement] = []
    checks: list[list[CheckRequirement]] = []
    overrides: dict[str, OverrideRequirement] = {}
    warnings: list[PolicyWarning] = []
    too_large = limits.batch_refusal([ctx.payload for ctx in contexts])
    if too_large is not None:
        return Evaluation(EvaluationOutcome.INVALID, too_large, [])
    for index, ctx in enumerate(contexts):
        label = f"item {index} ({ctx.mutation} on {ctx.state_id})"
        try:
            evaluation = evaluate(ctx)
        except UnknownMutationError as exc:
            return Evaluation(EvaluationOutcome.INVALID, f"{label}: {exc}", [])
        if evaluation.outcome == EvaluationOutcome.INVALID:
            return Evaluation(EvaluationOutcome.INVALID, f"{label}: {evaluation.reason}", [])
        if has_quota(ctx.mutation):
            # A batch's items take no quota slot: a quota'd mutation in one would bypass it.
            why = f"{label}: {ctx.mutation} has a quota, which counts single requests only"
            return Evaluation(EvaluationOutcome.INVALID, f"{why}; submit it on its own", [])
        if evaluation.outcome == EvaluationOutcome.DENY:
            denials.append(f"{label}: {evaluation.reason}")
        for requirement in evaluation.requirements:
            if requirement not in requirements:
                requirements.append(requirement)
        checks.append(evaluation.checks)
        for override in evaluation.overrides:
            overrides.setdefault(override.policy, override)
        warnings.extend(_labelled(label, evaluation.warnings))
    if denials:
        return Evaluation(EvaluationOutcome.DENY, "; ".join(denials), [], warnings=warnings)
    merged = merge_checks(checks)
    if requirements or merged or overrides:
        return Evaluation(
            EvaluationOutcome.REQUIRE_APPROVALS,
            "",
            requirements,
            merged,
            list(overrides.values()),
            warnings,
        )
    return Evaluation(EvaluationOutcome.ALLOW, "", [], warnings=warnings)
