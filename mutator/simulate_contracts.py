"""Inputs and results of a dry-run: the ``MutatorSimulate`` workflow and its one activity.

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
from mutator.models import ApprovalRequirement

SIMULATE_WORKFLOW = "MutatorSimulate"
SIMULATE_ACTIVITY = "mutator.simulate"
SIMULATE_ID_PREFIX = "simulate:"


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
    eligible_approvers: list[str] = Field(default_factory=list)
    state_version: int = 0
    data: dict[str, Any] | None = None
    diff: StateDiff | None = None
    error_type: str = ""
    error: str = ""
