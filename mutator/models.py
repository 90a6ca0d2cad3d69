"""The shapes users see: requests, approvals, decisions, states and history rows.

These models travel through Temporal (pydantic data converter), the SQL store and the CLI's
``--json`` output, so they carry no default factories that read clocks or randomness: the
workflow fills timestamps from ``workflow.now()``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    REJECTED = "rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    COMPENSATED = "compensated"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RequestStatus.EXECUTED,
        RequestStatus.REJECTED,
        RequestStatus.CANCELED,
        RequestStatus.EXPIRED,
        RequestStatus.SUPERSEDED,
        RequestStatus.FAILED,
        RequestStatus.COMPENSATED,
    }
)


class PendingReason(StrEnum):
    APPROVAL = "approval"
    EXTERNAL_CHECK = "external_check"
    SCHEDULE = "schedule"
    DEPENDENCY = "dependency"
    QUOTA = "quota"
    REVALIDATION = "revalidation"


class RejectionCode(StrEnum):
    POLICY_DENIED = "policy_denied"
    VALIDATION_FAILED = "validation_failed"
    APPROVER_REJECTED = "approver_rejected"
    STALE = "stale"
    CONFLICT = "conflict"


class DecisionCategory(StrEnum):
    LIFECYCLE = "lifecycle"
    APPROVAL = "approval"
    VERSION_RESOLUTION = "version_resolution"


OnStale = Literal["reject", "reapprove", "revalidate"]
ON_STALE_CHOICES: tuple[str, ...] = ("reject", "reapprove", "revalidate")


class Decision(BaseModel):
    """One entry of a request's record: every transition and every approval attempt."""

    category: DecisionCategory
    code: str
    actor: str
    reason: str = ""
    at: datetime


class Approval(BaseModel):
    actor: str
    comment: str = ""
    at: datetime


class Rejection(BaseModel):
    code: RejectionCode
    reason: str
    actor: str = ""


class ApprovalRequirement(BaseModel):
    """One ``RequireApprovals`` decision, with its roles already expanded to user ids."""

    policy: str
    count: int = Field(ge=1)
    approvers: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    eligible: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    timeout_seconds: float = Field(gt=0)


class MutationRequest(BaseModel):
    """A governed request as stored and as shown to users."""

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
    expected_version: int | None = None
    base_version: int | None = None
    resulting_version: int | None = None
    error: str | None = None
    deadline: datetime | None = None
    decisions: list[Decision] = Field(default_factory=list)
    revision: int = 0
    created_at: datetime
    updated_at: datetime


class StateView(BaseModel):
    state_id: str
    version: int
    data: dict[str, Any]


class HistoryEntry(BaseModel):
    version: int
    request_id: str
    actor: str
    at: datetime
    data: dict[str, Any]


class AuditEntry(BaseModel):
    request_id: str
    state_id: str
    seq: int
    category: DecisionCategory
    code: str
    actor: str
    reason: str
    at: datetime


class SubmitRequestInput(BaseModel):
    """What a caller asks for; validated before anything is started or stored."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    state_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-/]+$")
    mutation: str = Field(min_length=1, max_length=200)
    payload: dict[str, Any]
    requester: str = Field(min_length=1, max_length=200)
    reason: str = ""
    expected_version: int | None = Field(default=None, ge=0)


class LockInfo(BaseModel):
    """One state's lane as `mutator locks` shows it."""

    state_id: str
    holder_request_id: str | None
    fencing_token: int | None
    queue_length: int
    queued_request_ids: list[str]
    acquired_at: datetime | None
    expires_at: datetime | None
    stale: bool  # the lease is past its expiry and has not been passed on yet
    note: str = ""
