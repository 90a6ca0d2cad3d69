"""The shapes users see: requests, approvals, decisions, states and history rows.

These models travel through Temporal (pydantic data converter), the SQL store and the CLI's
``--json`` output, so they carry no default factories that read clocks or randomness: the
workflow fills timestamps from ``workflow.now()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mutator.diffs import StateDiff
from mutator.external_checks import CheckRequirement
from mutator.gates import Gate
from mutator.overrides import OverrideRequirement
from mutator.statuses import (
    COMPENSATION_MODES,
    IDENTITY_MODES,
    NOT_APPLIED_STATUSES,
    ON_STALE_CHOICES,
    TERMINAL_STATUSES,
    BatchMode,
    CompensationMode,
    DecisionCategory,
    IdentityMode,
    ItemOutcome,
    OnStale,
    PendingReason,
    RejectionCode,
    RequestStatus,
)
from mutator.views import HistoryEntry, LockInfo, StateView


class BatchItem(BaseModel):
    """One mutation of a batch request.

    Attributes:
        state_id: The state the item changes.
        mutation: A registered mutation name.
        payload: The mutation's arguments.
        expected_version: The state version the item was computed against, if any.
    """

    model_config = ConfigDict(extra="forbid")

    state_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-/]+$")
    mutation: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=0)


class BatchItemResult(BaseModel):
    """One item of a batch request and its outcome.

    Attributes:
        index: The item's position in the batch.
        outcome: What became of it; ``pending`` until the batch executes.
        base_version: The version the item is checked against before it applies.
        resulting_version: The state's version after the item applied.
        applied_diff: The change the item made, once applied (``mutator.diffs``).
        reason: Why it was rejected or failed.
        compensation: ``compensated``: how it was undone; an applied item whose compensation
            was refused: why (``compensate_on_failure``).
    """

    index: int
    state_id: str
    mutation: str
    payload: dict[str, Any]
    expected_version: int | None = None
    base_version: int | None = None
    outcome: ItemOutcome = ItemOutcome.PENDING
    resulting_version: int | None = None
    applied_diff: StateDiff | None = None
    reason: str = ""
    compensation: str = ""


class SignedProof(BaseModel):
    """What proves a person's decision: the envelope they signed, the signature, the key.

    Attributes:
        envelope: The signed envelope as received (``mutator.identity.envelope.Envelope``).
        signature: The armored SSHSIG signature over the envelope's canonical bytes.
        fingerprint: The SHA256 fingerprint of the signing key (``SHA256:...``).
    """

    envelope: dict[str, Any]
    signature: str
    fingerprint: str


class Decision(BaseModel):
    """One entry of a request's record: every transition and every approval attempt.

    Attributes:
        category: What the decision is about.
        code: A decision code (``mutator.decisions.DecisionCode``), listed in
            docs/lifecycle.md.
        actor: Who caused it: a user, ``system`` or ``policy``.
        reason: Why, in words.
        at: When (workflow time).
        proof: The actor's signed envelope, for a person's decision that was signed; None
            when the identity was only claimed, and for system decisions.
    """

    category: DecisionCategory
    code: str
    actor: str
    reason: str = ""
    at: datetime
    proof: SignedProof | None = None


class Approval(BaseModel):
    """One approval vote.

    Attributes:
        actor: Who approved.
        comment: What the approver said.
        at: When the vote was counted.
    """

    actor: str
    comment: str = ""
    at: datetime


class Rejection(BaseModel):
    """Why a request ended ``rejected``.

    Attributes:
        code: The kind of rejection.
        reason: The human explanation (a policy's deny reason, the approver's reason, ...).
        actor: The approver who rejected, or ``system``.
    """

    code: RejectionCode
    reason: str
    actor: str = ""


class ApprovalRequirement(BaseModel):
    """One ``RequireApprovals`` decision, with its roles already expanded to user ids.

    Attributes:
        policy: The name of the policy that asked for it.
        count: How many distinct eligible approvers must approve.
        approvers: The user ids the policy named.
        roles: The roles the policy named.
        eligible: Every user who may vote: ``approvers`` plus the holders of ``roles``.
        allow_self_approval: Whether the requester's own vote counts.
        timeout_seconds: How long the approvals may take before the request expires.
    """

    policy: str
    count: int = Field(ge=1)
    approvers: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    eligible: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    timeout_seconds: float = Field(gt=0)


class MutationRequest(BaseModel):
    """A governed request as stored and as shown to users.

    Attributes:
        request_id: The request's id.
        state_id: The state it changes (a batch: its states, sorted, comma-separated).
        mutation: The mutation's name (``batch`` for a batch).
        payload: The mutation's arguments.
        requester: Who submitted it.
        reason: Why, as the requester said.
        status: Where it stands.
        pending_reason: Why it waits, while ``pending``.
        rejection: Why it was rejected, once ``rejected``.
        required_approvals: What the policies require before it runs.
        approvals: The approvals given so far.
        required_checks: The external checks the policies require (``RequireChecks``); each
            one's result is its ``external_check`` gate.
        required_overrides: The policies' soft denials (``Deny(level="soft")``); each one's
            override is its ``override`` gate.
        expected_version: The version the requester computed the change against.
        base_version: The version it is checked against before executing.
        resulting_version: The state's version after it executed.
        planned_diff: What its handler did to the state as it was when the request was last
            evaluated (what approvers approve; ``mutator.diffs``); None for a batch.
        applied_diff: The change its execution made; None until it executed, and for a batch
            (each of its items has its own).
        error: Why it failed, or a note on where it stands.
        deadline: When its approvals run out.
        batch_mode: How a batch's items apply; None for a single mutation.
        items: A batch's items and their outcomes.
        after: The requests that must be executed before this one goes on (dependencies).
        gates: What it waits for, or waited for, in ``mutator.gates.GATE_ORDER``.
        not_before: The requester's earliest start (``submit --not-before``).
        break_glass: Submitted with break-glass: no approvals, windows, freezes or quotas,
            the break-glass quorum instead (``mutator.break_glass``).
        scheduled_for: While ``pending`` (schedule): when its schedule next opens, as known
            when it found it closed (a freeze ended early wakes it sooner); while
            ``pending`` (quota): when its quota's next slot frees.
        superseded_by: Once ``superseded``: the newer request that ended it.
        supersedes: The older requests this one ended (``supersede=True``).
        compensates: A compensation: the executed request it undoes (``mutator compensate``).
        compensation_mode: A compensation's mode: ``restore`` or ``inverse``
            (``mutator.compensation``).
        compensated_by: The compensation that undoes (or is asked to undo) this request;
            once that executes, this request is ``compensated``.
        compensate_on_failure: A ``sequential`` batch that undoes its applied items, in
            reverse order, when an item fails (a saga).
        decisions: Its record: every transition and approval attempt, oldest first.
        refused_attempts_not_recorded: Refused messages beyond those kept as decisions.
        revision: Increases with every stored change of the request.
        created_at: When it was submitted.
        updated_at: When it last changed.
    """

    request_id: str
    state_id: str
    mutation: str
    payload: dict[str, Any]
    requester: str
    reason: str = ""
    status: RequestStatus
    pending_reason: PendingReason | None = None
    rejection: Rejection | None = None
    required_approvals: list[ApprovalRequirement] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    required_checks: list[CheckRequirement] = Field(default_factory=list)
    required_overrides: list[OverrideRequirement] = Field(default_factory=list)
    expected_version: int | None = None
    base_version: int | None = None
    resulting_version: int | None = None
    planned_diff: StateDiff | None = None
    applied_diff: StateDiff | None = None
    error: str | None = None
    deadline: datetime | None = None
    batch_mode: BatchMode | None = None
    items: list[BatchItemResult] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
    not_before: datetime | None = None
    break_glass: bool = False
    scheduled_for: datetime | None = None
    superseded_by: str | None = None
    supersedes: list[str] = Field(default_factory=list)
    compensates: str | None = None
    compensation_mode: CompensationMode | None = None
    compensated_by: str | None = None
    compensate_on_failure: bool = False
    decisions: list[Decision] = Field(default_factory=list)
    # Refused signals beyond the ones kept as decisions (the record stays bounded).
    refused_attempts_not_recorded: int = 0
    revision: int = 0
    created_at: datetime
    updated_at: datetime


class AuditEntry(BaseModel):
    """One decision of the audit trail, across requests.

    Attributes:
        request_id: The request the decision belongs to.
        state_id: The request's state.
        seq: The decision's position in the request's record.
        category: What the decision is about.
        code: The decision code.
        actor: Who caused it.
        reason: Why, in words.
        at: When.
        proof: The signed envelope, signature and key fingerprint, when the actor signed.
    """

    request_id: str
    state_id: str
    seq: int
    category: DecisionCategory
    code: str
    actor: str
    reason: str
    at: datetime
    proof: SignedProof | None = None


# The most requests one request may wait for (``submit --after``).
MAX_AFTER = 20


class SubmitRequestInput(BaseModel):
    """What a caller asks for; validated before anything is started or stored."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    state_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-/,]+$")
    mutation: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any]
    requester: str = Field(min_length=1, max_length=200)
    reason: str = ""
    expected_version: int | None = Field(default=None, ge=0)
    batch_mode: BatchMode | None = None
    items: list[BatchItem] = Field(default_factory=list, max_length=100)
    # requests that must be executed first (dependencies), without repeats
    after: list[
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")]
    ] = Field(default_factory=list, max_length=MAX_AFTER)
    # the requester's earliest start; it executes no sooner (a single request only)
    not_before: AwareDatetime | None = None
    # an emergency: bypasses approvals, windows, freezes and quotas (mutator.break_glass)
    break_glass: bool = False
    # a compensation (mutator.compensation): the executed request it undoes, and how; its
    # payload and expected version are planned by the worker from the original's record
    compensates: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$"
    )
    compensation_mode: CompensationMode | None = None
    # a sequential batch: undo the applied items in reverse order when an item fails (saga)
    compensate_on_failure: bool = False
    # signed mode: the requester's envelope (action "submit") and its SSHSIG signature
    envelope: dict[str, Any] | None = None
    signature: str | None = None

    @model_validator(mode="after")
    def _batch_is_complete(self) -> SubmitRequestInput:
        if self.items and self.batch_mode is None:
            raise ValueError("batch_mode is required with items (atomic, sequential, independent)")
        if self.batch_mode is not None and not self.items:
            raise ValueError("items: a batch needs at least one item")
        if not self.items and "," in self.state_id:
            raise ValueError("state_id: must not contain ','")
        if self.request_id in self.after:
            raise ValueError(f"after: a request cannot wait for itself ({self.request_id!r})")
        if len(set(self.after)) != len(self.after):
            raise ValueError("after: names a request more than once")
        if self.break_glass and self.items:
            raise ValueError("break_glass: a batch cannot break glass (single requests only)")
        if self.break_glass and not self.reason.strip():
            raise ValueError("reason: a break-glass submit needs a reason")
        if self.break_glass and (self.after or self.not_before is not None):
            raise ValueError(BREAK_GLASS_WAITS)
        if (self.compensates is None) != (self.compensation_mode is None):
            raise ValueError("compensation_mode: a compensation needs both compensates and a mode")
        if self.compensate_on_failure and self.batch_mode != BatchMode.SEQUENTIAL:
            raise ValueError("compensate_on_failure: only a sequential batch compensates")
        if self.compensates is not None and (self.items or self.break_glass):
            raise ValueError("compensates: a compensation is a single, ordinary request")
        return self


BREAK_GLASS_WAITS = "break_glass: an emergency does not wait (no --after, no --not-before)"


def batch_state_id(items: list[BatchItem]) -> str:
    """The request's state id for a batch: its states, sorted, comma-separated."""
    joined = ",".join(sorted({item.state_id for item in items}))
    return joined if len(joined) <= 200 else joined[:197] + "..."


def submitted_request(submitted: SubmitRequestInput, now: datetime) -> MutationRequest:
    """The request as its submission makes it, before any policy has looked at it."""
    return MutationRequest(
        request_id=submitted.request_id,
        state_id=submitted.state_id,
        mutation=submitted.mutation,
        payload=submitted.payload,
        requester=submitted.requester,
        reason=submitted.reason,
        status=RequestStatus.PENDING,
        expected_version=submitted.expected_version,
        base_version=submitted.expected_version,
        batch_mode=submitted.batch_mode,
        items=[
            BatchItemResult(
                index=index,
                state_id=item.state_id,
                mutation=item.mutation,
                payload=item.payload,
                expected_version=item.expected_version,
                base_version=item.expected_version,
            )
            for index, item in enumerate(submitted.items)
        ],
        after=list(submitted.after),
        not_before=submitted.not_before,
        break_glass=submitted.break_glass,
        compensates=submitted.compensates,
        compensation_mode=submitted.compensation_mode,
        compensate_on_failure=submitted.compensate_on_failure,
        created_at=now,
        updated_at=now,
    )


__all__ = [
    "BREAK_GLASS_WAITS",
    "COMPENSATION_MODES",
    "IDENTITY_MODES",
    "MAX_AFTER",
    "NOT_APPLIED_STATUSES",
    "ON_STALE_CHOICES",
    "TERMINAL_STATUSES",
    "Approval",
    "ApprovalRequirement",
    "AuditEntry",
    "BatchItem",
    "BatchItemResult",
    "BatchMode",
    "CompensationMode",
    "Decision",
    "DecisionCategory",
    "HistoryEntry",
    "IdentityMode",
    "ItemOutcome",
    "LockInfo",
    "MutationRequest",
    "OnStale",
    "PendingReason",
    "Rejection",
    "RejectionCode",
    "RequestStatus",
    "SignedProof",
    "StateDiff",
    "StateView",
    "SubmitRequestInput",
    "batch_state_id",
    "submitted_request",
]
