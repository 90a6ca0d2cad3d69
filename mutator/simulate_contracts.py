"""Inputs and results of a dry-run, and of planning a waiting request's change again.

``mutator.plan_change`` plans the change of a request whose approvals were reset.

A dry-run (``client.simulate``, ``mutator submit --dry-run``) starts a short workflow, id
``simulate:<uuid>``, that runs ``mutator.simulate`` on a worker: the worker has the app's
validators, policies and handler. Nothing is written to the Mutator store. See
docs/changes.md (Dry-run and diffs) for what it costs in Temporal terms.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mutator.decisions import EvaluationOutcome
from mutator.diffs import StateDiff
from mutator.external_checks import CheckRequirement
from mutator.models import ApprovalRequirement, MutationRequest
from mutator.overrides import OverrideRequirement, PolicyWarning

SIMULATE_WORKFLOW = "MutatorSimulate"
SIMULATE_ACTIVITY = "mutator.simulate"
SIMULATE_ID_PREFIX = "simulate:"
# A request's handler run again on its state as it is now, for its planned diff (reapprove).
PLAN_ACTIVITY = "mutator.plan_change"
REAPPROVE_PLANS_PATCH = "reapprove-plans"


class SimulateInput(BaseModel):
    """One mutation to try on a state as it is now, as ``requester``.

    Attributes:
        state_id: The state.
        mutation: A registered mutation name.
        payload: The mutation's arguments.
        requester: Who would submit it (policies see it).
        reason: Why, as the requester would say.
    """

    state_id: str
    mutation: str
    payload: dict[str, Any]
    requester: str
    reason: str = ""


class SimulateResult(BaseModel):
    """What submitting the mutation now would do; nothing of it was applied or stored.

    Attributes:
        outcome: ``allow`` (it would execute), ``deny`` or ``invalid`` (it would be
            rejected, ``reason`` says why) or ``require_approvals`` (it would wait).
        reason: Every deny reason, or the validator's refusal.
        requirements: The approvals it would wait for, each with its eligible users.
        checks: The external checks it would wait for.
        overrides: The soft denies it would wait for someone to override.
        warnings: The advisory denies (and policies that failed open) it would record.
        eligible_approvers: Everyone who could approve it, over every requirement.
        state_version: The version of the state it ran on (0: no state yet).
        data: The state's data after the change; None when a validator refused or the
            handler failed.
        diff: The change, as ``planned_diff`` would record it; None when a validator
            refused.
        error_type: Set when the dry-run itself failed (``UnknownMutation``,
            ``PolicyFailed``); ``error`` says why.
        error: Why it failed.
    """

    outcome: EvaluationOutcome | None = None
    reason: str = ""
    requirements: list[ApprovalRequirement] = Field(default_factory=list)
    checks: list[CheckRequirement] = Field(default_factory=list)
    overrides: list[OverrideRequirement] = Field(default_factory=list)
    warnings: list[PolicyWarning] = Field(default_factory=list)
    eligible_approvers: list[str] = Field(default_factory=list)
    state_version: int = 0
    data: dict[str, Any] | None = None
    diff: StateDiff | None = None
    error_type: str = ""
    error: str = ""


class PlanInput(BaseModel):
    """The request whose change to plan again on its state as it is now."""

    request: MutationRequest


class PlanResult(BaseModel):
    """The request's change on the state as it is now (None: its mutation is unknown here)."""

    planned_diff: StateDiff | None = None
