"""What evaluating a request yields: the context policies see, and their outcome.

Break-glass applies here (``evaluate_request``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mutator.activities.outcomes import users_bug
from mutator.app import Evaluation, MutationApp
from mutator.break_glass import NOT_DECLARED, break_glass_outcome
from mutator.contracts import ERR_POLICY_FAILED, EvaluateResult
from mutator.decisions import EvaluationOutcome
from mutator.lane_contracts import LaneOutcome
from mutator.models import MutationRequest, StateView
from mutator.policies import PolicyContext
from mutator.policy_runner import PolicyFailure


def policy_context(
    req: MutationRequest,
    state_id: str,
    mutation: str,
    payload: dict[str, Any],
    state: StateView | None,
) -> PolicyContext:
    """What a policy sees: the request, the state's data and version (``{}`` and 0 if new)."""
    return PolicyContext(
        state_id=state_id,
        mutation=mutation,
        payload=payload,
        state=dict(state.data) if state else {},
        version=state.version if state else 0,
        requester=req.requester,
        compensates=req.compensates,
        compensation_mode=req.compensation_mode,
    )


def run_policies(evaluate: Callable[[], Evaluation]) -> Evaluation:
    """Run the app's policies; a policy that fails ends the request (not retried).

    The error names the policy (``mutator.policy_runner.PolicyFailure``).
    """
    try:
        return evaluate()
    except PolicyFailure as exc:
        raise users_bug(str(exc), type=ERR_POLICY_FAILED) from exc
    except Exception as exc:
        # A bug in a user's policy must not loop forever; it ends the request with the error.
        raise users_bug(
            f"policy evaluation raised {type(exc).__name__}: {exc}", type=ERR_POLICY_FAILED
        ) from exc


def evaluate_request(app: MutationApp, req: MutationRequest, ctx: PolicyContext) -> Evaluation:
    """The app's policies and validators on one request, and break-glass when it asks for it.

    A break-glass request by someone without a break-glass role (or in an app that declares
    none) is ``break_glass_refused`` before any policy runs; otherwise its policies' approval
    requirements are replaced by the break-glass quorum (``deny`` and ``invalid`` stand, and
    so do the external checks and the soft denials' overrides its policies require).
    """
    rule = app.break_glass_rule
    if req.break_glass:
        refused = NOT_DECLARED if rule is None else rule.refusal(req.requester, app.directory)
        if refused is not None:
            return Evaluation(EvaluationOutcome.BREAK_GLASS_REFUSED, refused, [])
    evaluation = run_policies(lambda: app.evaluate(ctx))
    if not req.break_glass or rule is None:
        return evaluation
    outcome, requirements = break_glass_outcome(rule, evaluation.outcome, app.directory)
    if outcome == EvaluationOutcome.ALLOW and (evaluation.checks or evaluation.overrides):
        # External checks are machines' verdicts, not review, and a soft denial asks for a
        # named override, not a quorum: an emergency still waits for them.
        outcome = EvaluationOutcome.REQUIRE_APPROVALS
    waits = outcome == EvaluationOutcome.REQUIRE_APPROVALS
    return Evaluation(
        outcome,
        evaluation.reason,
        requirements,
        evaluation.checks if waits else [],
        evaluation.overrides if waits else [],
        evaluation.warnings,
    )


def executed_earlier(req: MutationRequest, recorded: MutationRequest) -> EvaluateResult:
    """The evaluation's answer for a request an earlier attempt executed directly."""
    assert recorded.resulting_version is not None
    return EvaluateResult(
        outcome=EvaluationOutcome.ALLOW,
        state_version=recorded.resulting_version - 1,
        executed=LaneOutcome(state_id=req.state_id, token=0, request=recorded),
    )
