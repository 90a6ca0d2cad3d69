"""Inputs, signals and results of the per-state lane workflow (FIFO lock with lease + fencing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from mutator.models import MutationRequest
from mutator.quotas import QuotaExceeded
from mutator.schedule.status import ScheduleStatus

# A change window is closed, a freeze covers it or it is before its not_before: not applied;
# the error's details hold the ScheduleStatus (next_open and the blocks).
ERR_SCHEDULE_CLOSED = "ScheduleClosed"
# Every slot of the mutation's quota is taken: not applied; the error's details hold the
# QuotaExceeded (the quota, how many uses, the next free slot).
ERR_QUOTA_EXCEEDED = "QuotaExceeded"

LANE_WORKFLOW = "StateLane"
ACQUIRE_LANE_ACTIVITY = "mutator.acquire_lane"
FENCE_ACTIVITY = "mutator.advance_fence"
FORGET_OWNERS_ACTIVITY = "mutator.forget_lane_owners"

DEFAULT_LEASE_SECONDS = 30.0
# The longest a mutation's handler (and its write) may run in one attempt; past it the
# request fails, its fencing token is fenced out and the next request gets the state. Time
# spent waiting for a worker does not count: a dead worker is noticed within the heartbeat
# timeout and the execution retried, under a new fencing token, at the head of its lane.
DEFAULT_EXECUTION_TIMEOUT_SECONDS = 60.0
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 5.0
DEFAULT_IDLE_SECONDS = 30.0
# Carry the queue over (continue-as-new) well before Temporal's own suggestion.
DEFAULT_MAX_HISTORY_EVENTS = 4000


def lane_workflow_id(state_id: str) -> str:
    """The workflow id of the lane of ``state_id``."""
    return f"state-lane:{state_id}"


class LaneExecution(BaseModel):
    """What the lane executes for a request when its turn comes."""

    request: MutationRequest  # as it stands, with the next revision number
    expected_version: int | None = None


class LaneEntry(BaseModel):
    """A request waiting in a lane's queue."""

    owner: str  # workflow id of the request waiting for the lane
    request_id: str
    enqueued_at: datetime
    # The lane runs the execution itself (instead of granting the owner) ...
    executes: bool = False
    # ... once the owner has sent what to execute.
    execution: LaneExecution | None = None


class LaneHolder(BaseModel):
    """The request holding a lane's lease, under its fencing token."""

    owner: str
    request_id: str
    token: int
    acquired_at: datetime
    expires_at: datetime
    depth: int = 1  # re-entrant acquisitions by the same owner


class LaneInput(BaseModel):
    """A lane's settings and, across continue-as-new, its holder, queue and counters."""

    state_id: str
    next_token: int = Field(default=1, ge=1)
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)
    execution_timeout_seconds: float = Field(default=DEFAULT_EXECUTION_TIMEOUT_SECONDS, gt=0)
    execution_task_queue: str = ""
    idle_seconds: float = Field(default=DEFAULT_IDLE_SECONDS, gt=0)
    max_history_events: int = Field(default=DEFAULT_MAX_HISTORY_EVENTS, ge=100)
    holder: LaneHolder | None = None
    queue: list[LaneEntry] = Field(default_factory=list)
    grants: int = 0
    expirations: int = 0
    seen_owners: list[str] = Field(default_factory=list)


class LaneResult(BaseModel):
    """What a lane reports when it closes: how many grants and lease expirations it saw."""

    state_id: str
    grants: int
    expirations: int


class LaneStatus(BaseModel):
    """A lane's ``status`` query: its holder, queue and next fencing token."""

    state_id: str
    run_id: str
    holder: LaneHolder | None
    queue: list[LaneEntry]
    next_token: int
    grants: int
    expirations: int
    lease_seconds: float


class AcquireLaneRequest(BaseModel):
    """The ``acquire`` signal: an owner joins the lane's queue."""

    owner: str
    request_id: str
    # Nested acquisition by the holder (counted, released as many times). Without it, an
    # acquire from the holder is a retry and only repeats the grant.
    reentrant: bool = False
    executes: bool = False
    execution: LaneExecution | None = None
    # Above every token direct executions took before this owner joined.
    min_token: int = 1


class AttachExecution(BaseModel):
    """The owner of a queued ``executes`` entry says what to execute."""

    owner: str
    execution: LaneExecution


class LaneOutcome(BaseModel):
    """The lane tells the owner how the execution it ran ended."""

    state_id: str
    token: int
    request: MutationRequest | None = None  # as stored with the change, when applied
    error_type: str = ""  # an ERR_* type, or LEASE_EXPIRED
    error: str = ""
    current_version: int | None = None  # on a version conflict
    schedule: ScheduleStatus | None = None  # on a closed schedule (ERR_SCHEDULE_CLOSED)
    quota: QuotaExceeded | None = None  # on a full quota (ERR_QUOTA_EXCEEDED)
    # The answer to a ``withdraw`` (token 0): ``withdrawn`` (left the queue, nothing will
    # run) or ``too_late`` (its turn came already: its outcome follows as usual).
    withdrawal: Literal["withdrawn", "too_late"] | None = None


WITHDRAW_SIGNAL = "withdraw"


class LaneWithdraw(BaseModel):
    """An owner asks to leave the queue before its turn (it was superseded)."""

    owner: str


def closed_schedule(error_type: str | None, details: Sequence[Any]) -> ScheduleStatus | None:
    """The schedule an ``ERR_SCHEDULE_CLOSED`` execution error carries; None for any other."""
    if error_type != ERR_SCHEDULE_CLOSED or not details or not isinstance(details[0], dict):
        return None
    return ScheduleStatus.model_validate(details[0])


def exceeded_quota(error_type: str | None, details: Sequence[Any]) -> QuotaExceeded | None:
    """The quota an ``ERR_QUOTA_EXCEEDED`` execution error carries; None for any other."""
    if error_type != ERR_QUOTA_EXCEEDED or not details or not isinstance(details[0], dict):
        return None
    return QuotaExceeded.model_validate(details[0])


LEASE_EXPIRED = "LeaseExpired"


class LaneTokenSignal(BaseModel):
    """Release or renew: only the current holder with its token counts."""

    owner: str
    token: int


class LaneGrant(BaseModel):
    """The lane's answer to its owner: the lease is yours, under ``token``, until ``expires_at``."""

    state_id: str
    token: int
    expires_at: datetime
    lease_seconds: float


class AcquireLaneInput(BaseModel):
    """Input of the activity that signals-with-start a state's lane to join its queue."""

    state_id: str
    owner: str
    request_id: str
    reentrant: bool = False
    executes: bool = False
    execution: LaneExecution | None = None
    task_queue: str = ""  # the lane's; empty: the calling activity's


class AcquireLaneResult(BaseModel):
    """The run id of the lane the owner joined."""

    lane_run_id: str


class AdvanceFenceInput(BaseModel):
    """Input of the activity that raises a state's fence to ``token``."""

    state_id: str
    token: int


class AdvanceFenceResult(BaseModel):
    """The state's fence after the raise."""

    fence: int


class ForgetOwnersInput(BaseModel):
    """Input of the activity that drops the claim rows of the owners a lane has served."""

    state_id: str
    owners: list[str]


class ForgetOwnersResult(BaseModel):
    """How many claim rows were dropped."""

    forgotten: int
