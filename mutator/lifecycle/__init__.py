"""The request's lifecycle, pure: statuses, transitions, votes, stale strategies, decisions.

The request workflow (``mutator.workflows.mutation_request``) keeps only orchestration:
timers, messages, activities and saves. It calls these functions with the request and the
time; each records its decisions onto the request and returns an ``Effect`` (the decisions
written, the status transition if any, and a step to take first if one is needed), and
``next_step`` says what the workflow does next. Nothing here imports ``temporalio``, reads a
clock or does I/O. A new gate or decision belongs here: see ``docs/lifecycle.md``.
"""

from __future__ import annotations

from mutator.lifecycle.check_state import checks_passed, gate_deadline, gates_met
from mutator.lifecycle.checks import gates_complete, report_check, report_refusal
from mutator.lifecycle.compensation import (
    compensated,
    compensation_refusal,
    later_versions,
    link_compensation,
    record_compensates,
)
from mutator.lifecycle.dependencies import (
    await_dependencies,
    dependencies_met,
    dependency_ended,
)
from mutator.lifecycle.gate_sync import sync_gates
from mutator.lifecycle.machine import (
    TRANSITIONS,
    AwaitApprovals,
    AwaitQuota,
    AwaitSchedule,
    Done,
    Effect,
    Execute,
    IllegalTransition,
    LifecycleError,
    NextStep,
    Reevaluate,
    ResolveStale,
    Then,
    Transition,
    VoteRefused,
    adopt,
    can_transition,
    decide,
    fail,
    next_step,
    reject,
    transition,
)
from mutator.lifecycle.outcomes import (
    admit,
    approval_kept_if_unchanged,
    evaluation_error,
    execution_refused,
    revalidated,
    sign_submission,
    stale,
    submit,
)
from mutator.lifecycle.overrides import override, override_refusal
from mutator.lifecycle.quota import quota_free, waiting_for_quota
from mutator.lifecycle.schedule import schedule_closed, schedule_open, waiting_for_schedule
from mutator.lifecycle.supersede import (
    admitted_by_policies,
    authority_refusal,
    record_supersedes,
    supersede_refusal,
    superseded,
)
from mutator.lifecycle.votes import (
    MAX_REFUSED_ATTEMPTS_KEPT,
    approvals_complete,
    approve,
    approve_refusal,
    cancel,
    cancel_refusal,
    deadline_passed,
    progress,
    quorum_met,
    refused_attempt,
    reject_refusal,
    reject_vote,
    signed_vote_refusal,
)

__all__ = [
    "MAX_REFUSED_ATTEMPTS_KEPT",
    "TRANSITIONS",
    "AwaitApprovals",
    "AwaitQuota",
    "AwaitSchedule",
    "Done",
    "Effect",
    "Execute",
    "IllegalTransition",
    "LifecycleError",
    "NextStep",
    "Reevaluate",
    "ResolveStale",
    "Then",
    "Transition",
    "VoteRefused",
    "admit",
    "admitted_by_policies",
    "adopt",
    "approval_kept_if_unchanged",
    "approvals_complete",
    "approve",
    "approve_refusal",
    "authority_refusal",
    "await_dependencies",
    "can_transition",
    "cancel",
    "cancel_refusal",
    "checks_passed",
    "compensated",
    "compensation_refusal",
    "deadline_passed",
    "decide",
    "dependencies_met",
    "dependency_ended",
    "evaluation_error",
    "execution_refused",
    "fail",
    "gate_deadline",
    "gates_complete",
    "gates_met",
    "later_versions",
    "link_compensation",
    "next_step",
    "override",
    "override_refusal",
    "progress",
    "quorum_met",
    "quota_free",
    "record_compensates",
    "record_supersedes",
    "refused_attempt",
    "reject",
    "reject_refusal",
    "reject_vote",
    "report_check",
    "report_refusal",
    "revalidated",
    "schedule_closed",
    "schedule_open",
    "sign_submission",
    "signed_vote_refusal",
    "stale",
    "submit",
    "supersede_refusal",
    "superseded",
    "sync_gates",
    "transition",
    "waiting_for_quota",
    "waiting_for_schedule",
]
