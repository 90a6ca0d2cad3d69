"""Where a request stands, why it waits or was refused, and how a batch's items apply.

The enumerations of ``mutator.models`` (which re-exports them), apart so that the
request's shapes and its vocabulary each stay small.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class RequestStatus(StrEnum):
    """Where a request stands; docs/lifecycle.md describes each status.

    ``executed``, ``rejected``, ``canceled``, ``expired``, ``failed``, ``superseded`` and
    ``compensated`` are final: a request in one of them never changes again, except that the
    execution of its compensation moves an ``executed`` request to ``compensated``.
    """

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
        """Whether the status is final (the request never changes again)."""
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

# Ended without its change applied (or it never will be): the CLI exits with code 1.
NOT_APPLIED_STATUSES = TERMINAL_STATUSES - {RequestStatus.EXECUTED, RequestStatus.COMPENSATED}


class PendingReason(StrEnum):
    """Why a ``pending`` request waits.

    ``approval``: for votes. ``revalidation``: a ``revalidate`` request ran its policies again
    on a changed state and needs votes it does not have yet. ``evaluation``: only in what
    ``submit`` returns when no worker evaluated the request in time. ``dependency``: for the
    requests named by ``after`` to be executed. ``schedule``: for its change window to open, a
    freeze to end or its ``not_before`` (docs/gates.md). ``external_check``: for external
    checks to be reported (``mutator.external_checks``). ``quota``: for a slot of its
    mutation's quota to free (docs/gates.md). ``override``: for a policy's soft ``Deny`` to be
    overridden by someone eligible (docs/gates.md). Each gate kind
    (``mutator.gates.GateKind``) has the pending reason of the same value.
    """

    APPROVAL = "approval"
    EXTERNAL_CHECK = "external_check"
    SCHEDULE = "schedule"
    DEPENDENCY = "dependency"
    QUOTA = "quota"
    OVERRIDE = "override"
    REVALIDATION = "revalidation"
    # Submitted, but no worker answered within the client's admission timeout; a worker
    # polls and will evaluate it. Only a client reports it; the store never holds it.
    EVALUATION = "evaluation"


class RejectionCode(StrEnum):
    """Why a request was rejected (``MutationRequest.rejection.code``); ``conflict`` is reserved."""

    POLICY_DENIED = "policy_denied"
    VALIDATION_FAILED = "validation_failed"
    APPROVER_REJECTED = "approver_rejected"
    STALE = "stale"
    CONFLICT = "conflict"
    # signed mode: the submit's signature is missing, or does not verify (mutator.identity)
    SIGNATURE_REFUSED = "signature_refused"
    # a request named by ``after`` ended other than executed
    DEPENDENCY_FAILED = "dependency_failed"
    # its change window has no further opening (a window that does not recur)
    SCHEDULE_CLOSED = "schedule_closed"
    # its mutation's quota was full at execution, and the quota rejects (on_exceeded="reject")
    QUOTA_EXCEEDED = "quota_exceeded"
    # an external check required by a policy was reported failed
    CHECK_FAILED = "check_failed"


class DecisionCategory(StrEnum):
    """What a decision of a request's record is about: its status, a vote, or version resolution."""

    LIFECYCLE = "lifecycle"
    APPROVAL = "approval"
    VERSION_RESOLUTION = "version_resolution"


OnStale = Literal["reject", "reapprove", "revalidate", "reapprove_if_changed"]

CompensationMode = Literal["restore", "inverse"]
"""``restore``: set the state's data back to what it was before the request; ``inverse``: a
forward correction, the mutation's ``@handler.inverse`` payload (``mutator.compensation``)."""
COMPENSATION_MODES: tuple[str, ...] = get_args(CompensationMode)

IdentityMode = Literal["signed", "claimed"]
"""``signed``: every submit and vote carries the actor's signature; ``claimed``: a typed name."""
IDENTITY_MODES: tuple[str, ...] = get_args(IdentityMode)
ON_STALE_CHOICES: tuple[str, ...] = get_args(OnStale)


class BatchMode(StrEnum):
    """How the items of a batch request apply."""

    ATOMIC = "atomic"  # all states locked in sorted order, all items in one transaction, or none
    SEQUENTIAL = "sequential"  # in order, stop at the first failure; applied items stay
    INDEPENDENT = "independent"  # every item runs; each has its own outcome


class ItemOutcome(StrEnum):
    """What became of one item of a batch request."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"  # stale, validation or conflict: refused before applying
    FAILED = "failed"  # the handler raised
    NOT_RUN = "not_run"  # sequential: an earlier item failed
    ROLLED_BACK = "rolled_back"  # atomic: another item failed, nothing was applied
    # sequential with compensate_on_failure: applied, then undone after a later item failed
    COMPENSATED = "compensated"
