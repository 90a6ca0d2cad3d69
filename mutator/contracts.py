"""Inputs and results of the request workflow, its handlers and its activities.

Both ``workflows/`` and ``activities/`` import these; neither imports the other.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mutator.decisions import EvaluationOutcome
from mutator.diffs import StateDiff
from mutator.external_checks import CheckRequirement
from mutator.ids import request_workflow_id as request_workflow_id
from mutator.lane_contracts import ERR_SCHEDULE_CLOSED as ERR_SCHEDULE_CLOSED
from mutator.lane_contracts import LaneOutcome
from mutator.limits import MAX_ID_CHARS
from mutator.limits import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from mutator.models import (
    ApprovalRequirement,
    BatchItemResult,
    MutationRequest,
    OnStale,
    RequestStatus,
    SignedProof,
)
from mutator.overrides import OverrideRequirement, PolicyWarning
from mutator.schedule.status import ScheduleStatus

EVALUATE_ACTIVITY = "mutator.evaluate_request"
EXECUTE_ACTIVITY = "mutator.execute_mutation"
SAVE_REQUEST_ACTIVITY = "mutator.save_request"
RESOLVE_VERSIONS_ACTIVITY = "mutator.resolve_versions"
RESOLVE_VERSION_ACTIVITY = "mutator.resolve_version"
EXECUTE_ITEMS_ACTIVITY = "mutator.execute_items"
VERIFY_VOTE_ACTIVITY = "mutator.verify_vote"
VERIFY_SUBMIT_ACTIVITY = "mutator.verify_submit"
CHECK_SCHEDULE_ACTIVITY = "mutator.check_schedule"

REQUEST_WORKFLOW = "MutationRequest"

# ApplicationError types raised by activities; the workflow maps them to outcomes.
ERR_UNKNOWN_MUTATION = "UnknownMutation"
ERR_VALIDATION = "ValidationFailed"
ERR_VERSION_CONFLICT = "VersionConflict"
ERR_MUTATION_FAILED = "MutationFailed"
ERR_POLICY_FAILED = "PolicyFailed"
# The admission update's failure when break-glass is refused (nothing is stored).
ERR_BREAK_GLASS_REFUSED = "BreakGlassRefused"
ERR_FENCED_OUT = "FencedOut"
ERR_OWNER_GONE = "OwnerGone"  # the request's workflow ended (terminated) before its turn
ERR_HANDLER_TIMEOUT = "HandlerTimedOut"  # the handler ran past its own limit: not applied

# The execution activity runs on its own task queue, whose slot limit is
# MaxConcurrentMutations: "<task queue>-execute".
EXECUTION_QUEUE_SUFFIX = "-execute"
# Waits for dependencies (``mutator.await_dependency``) hold a slot each for as long as the
# dependency runs: they have their own task queue, "<task queue>-dependencies".
DEPENDENCY_QUEUE_SUFFIX = "-dependencies"

# Update and signal refusals, for callers to tell them apart.
ERR_REFUSED = "Refused"
# An update whose input cannot be read (wrong shape, type, size); the message names the field.
ERR_INVALID_INPUT = "InvalidInput"


class EvaluateInput(BaseModel):
    """Input of ``mutator.evaluate_request``: the request to run validators and policies on."""

    request: MutationRequest
    # When policies allow at once, join the state's lane in the same activity.
    join_lane_if_allowed: bool = False
    task_queue: str = ""  # the request's (the lane runs there)
    # The submission's evaluation: check the submit's signature (or its absence in signed
    # mode) first; later evaluations (revalidation) do not.
    check_submit: bool = False
    envelope: dict[str, Any] | None = None  # the submit's envelope, as sent
    signature: str | None = None  # the submit's signature, as sent
    # When Temporal accepted the submit: issued_at is checked against it, so a submit
    # evaluated late (no worker for a while) is not refused for the wait.
    submitted_at: datetime | None = None


class EvaluateResult(BaseModel):
    """The evaluation's outcome, what it requires, and the execution if it ran directly."""

    outcome: EvaluationOutcome
    reason: str = ""
    requirements: list[ApprovalRequirement] = Field(default_factory=list)
    # the external checks the policies require (RequireChecks); outcome require_approvals
    checks: list[CheckRequirement] = Field(default_factory=list)
    # soft denials to override (outcome require_approvals), advisory warnings (any outcome)
    overrides: list[OverrideRequirement] = Field(default_factory=list)
    warnings: list[PolicyWarning] = Field(default_factory=list)
    state_version: int
    on_stale: OnStale = "reject"
    # The mutation declares supersede=True: once admitted, the request ends older ones.
    supersede: bool = False
    item_versions: list[int] = Field(default_factory=list)
    lane_requested: bool = False
    # Allowed, and the state was free: executed in the same activity (or refused/failed).
    executed: LaneOutcome | None = None
    # Approvals or checks required: the handler's change of the state as evaluated (what
    # approvers approve); None when allowed (its execution records the change it made).
    planned_diff: StateDiff | None = None
    # The submit's verified signature, for the ``submitted`` decision.
    proof: SignedProof | None = None
    # Whether the worker that evaluated has a webhook (workflows/request_notify.py).
    webhooks: bool = False


class ResolveVersionInput(BaseModel):
    """One state and the base version to check it against (a batch item's)."""

    state_id: str
    base_version: int | None


class ResolveVersionResult(BaseModel):
    """The state's current version, and whether it moved past the base."""

    current_version: int
    stale: bool


class VersionOutcome(StrEnum):
    """What version resolution found: the state at the request's base version, or past it."""

    CURRENT = "current"
    STALE = "stale"


class ResolveRequestVersionInput(BaseModel):
    """A request that waited (for approvals): its state's version against its base."""

    request_id: str
    state_id: str
    base_version: int | None
    on_stale: OnStale


class VersionResolution(BaseModel):
    """The result of a request's version resolution, as its event history shows it.

    ``strategy`` is the request's ``on_stale``, taken when ``outcome`` is ``stale``.
    """

    outcome: VersionOutcome
    state_id: str
    base_version: int | None
    current_version: int
    strategy: OnStale | None = None


class ExecuteInput(BaseModel):
    """``request`` is the snapshot to store when the change applies (status executed).

    ``granted_at``: the state's lane runs this execution for the request, granted at that
    time; ``request`` is then the request as it stood (approved) and the execution adds the
    decisions of its turn (lane acquired, version current, executing, executed).
    """

    request: MutationRequest
    expected_version: int | None
    fencing_token: int | None = None
    granted_at: datetime | None = None
    lane_owner: str | None = None  # the lane turn of this owner: its lane row goes
    claim_owner: str | None = None  # executed under this owner's direct claim


class ExecuteResult(BaseModel):
    """The request as its execution stored it (status ``executed``)."""

    request: MutationRequest


class ResolveVersionsInput(BaseModel):
    """A batch's items to resolve, in one activity."""

    items: list[ResolveVersionInput]


class ResolveVersionsResult(BaseModel):
    """Each item's resolution, in the order asked."""

    items: list[ResolveVersionResult]


class ExecuteItemsInput(BaseModel):
    """Batch items applied in one transaction (all or none) under their lanes' tokens.

    ``request`` is stored in the same transaction when given (atomic batches), with the
    items' outcomes filled in.
    """

    request_id: str
    requester: str
    items: list[BatchItemResult]
    tokens: dict[str, int]
    request: MutationRequest | None = None


class ExecuteItemsResult(BaseModel):
    """A batch execution's resulting versions, and the request if the batch ended."""

    versions: list[int]
    request: MutationRequest | None = None
    # Each item's change, in the order of ``versions``.
    diffs: list[StateDiff] = Field(default_factory=list)


class SaveRequestInput(BaseModel):
    """Input of ``mutator.save_request``: the request's next revision to project."""

    request: MutationRequest


class SaveRequestResult(BaseModel):
    """The revision the projection now holds."""

    revision: int


class AdmissionInput(BaseModel):
    """Empty: the submit update waits until policies have been evaluated."""


# The longest actor, and comment or reason, an approve/reject/cancel may carry: what is
# accepted is copied into the request record, which must stay far below Temporal's limits.
# The same bounds the client checks at the door, so both sides agree.
MAX_ACTOR_CHARS = MAX_ID_CHARS


# Defaults so that a signal without "actor" (e.g. from the UI) is recorded as a refused
# attempt that says so (workflows/messages.py reads what handlers receive).
class ApproveInput(BaseModel):
    """The ``approve`` update or signal: who approves, with an optional comment."""

    actor: str = ""
    comment: str = ""
    envelope: dict[str, Any] | None = None  # signed: the actor's envelope
    signature: str | None = None  # signed: the SSHSIG signature over it


class RejectInput(BaseModel):
    """The ``reject`` update or signal: who rejects, and why (required)."""

    actor: str = ""
    reason: str = ""
    envelope: dict[str, Any] | None = None  # signed: the actor's envelope
    signature: str | None = None  # signed: the SSHSIG signature over it


class CancelInput(BaseModel):
    """The ``cancel`` update or signal: who cancels, and why."""

    actor: str = ""
    reason: str = ""
    envelope: dict[str, Any] | None = None  # signed: the actor's envelope
    signature: str | None = None  # signed: the SSHSIG signature over it


class VerifyVoteInput(BaseModel):
    """Input of ``mutator.verify_vote``: a signalled vote to check under the worker's identity."""

    action: Literal["approve", "reject", "cancel", "check", "override"]
    actor: str
    # an approval's comment, a rejection's, cancel's or override's reason, a check report's
    # ``mutator.external_checks.check_comment``
    comment: str
    envelope: dict[str, Any] | None = None
    signature: str | None = None
    request: MutationRequest  # as it stands when the vote arrived


class VerifySubmitInput(BaseModel):
    """Input of ``mutator.verify_submit``: a submit's signature, checked before the request waits.

    A request with dependencies is evaluated only once they are executed; its signature is
    checked at once, so that its ``submitted`` decision is stored with its proof.
    """

    request: MutationRequest
    envelope: dict[str, Any] | None = None
    signature: str | None = None
    submitted_at: datetime  # when Temporal accepted the submit: issued_at is checked against it


class VerifyVoteResult(BaseModel):
    """Either why the vote's signature (or its absence) is refused, or its proof (if signed)."""

    refusal: str | None = None
    proof: SignedProof | None = None
    # mutator.verify_submit: whether its worker has a webhook (workflows/request_notify.py).
    webhooks: bool = False


class RequestUpdateResult(BaseModel):
    """The request as it stands after an update was accepted."""

    request: MutationRequest


class RequestWorkflowResult(BaseModel):
    """How the request ended, in short.

    The full record is in the store (`mutator show`) and in the workflow's `status` query.
    """

    request_id: str
    status: RequestStatus
    resulting_version: int | None = None
    outcome: str = ""  # the rejection or the error, if any


AWAIT_DEPENDENCY_ACTIVITY = "mutator.await_dependency"


class AwaitDependencyInput(BaseModel):
    """Input of ``mutator.await_dependency``: a request to wait for, and who waits."""

    request_id: str  # the dependency
    dependent_id: str  # the request that waits (for the worker's log)


class AwaitDependencyResult(BaseModel):
    """How a dependency ended: its final status, or None with why it has none."""

    request_id: str
    status: RequestStatus | None = None
    why: str = ""  # with no status: e.g. its workflow was terminated


SCHEDULE_CHANGED_SIGNAL = "schedule_changed"


class CheckScheduleInput(BaseModel):
    """Input of ``mutator.check_schedule``: a request about to wait for its schedule."""

    request: MutationRequest


class CheckScheduleResult(BaseModel):
    """The request's schedule as the store and the app have it now."""

    schedule: ScheduleStatus


class ScheduleChanged(BaseModel):
    """Signal ``schedule_changed``: the schedule a waiting request was blocked by changed.

    Sent by ``freeze end`` to each request ``pending`` (schedule) the freeze covered: the
    request stops waiting for its ``scheduled_for`` and executes, checking the schedule again.
    """

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)  # e.g. "freeze xmas ended by alice"
