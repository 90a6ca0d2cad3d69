"""The closed sets of codes a request's record is written with.

The values are the strings stored in the database, shown by ``--json`` and in the Temporal
UI, and recorded in existing workflow histories: they must never change. ``docs/lifecycle.md``
lists them, and ``tests/mutator/test_decision_codes.py`` keeps that list and these enums equal.
"""

from __future__ import annotations

from enum import StrEnum

from mutator.models import RejectionCode


class EvaluationOutcome(StrEnum):
    """What validators and policies made of a request."""

    ALLOW = "allow"
    DENY = "deny"
    INVALID = "invalid"  # a validator refused it, or it cannot be read
    REQUIRE_APPROVALS = "require_approvals"
    # identity="signed": the submit's signature is missing or does not verify
    SIGNATURE_REFUSED = "signature_refused"
    # break-glass asked for by someone without a break-glass role, or the app declares none:
    # the request is refused and nothing is stored (mutator.break_glass)
    BREAK_GLASS_REFUSED = "break_glass_refused"


class DecisionCode(StrEnum):
    """A decision's ``code``; a lifecycle rejection is written as ``rejected_code(...)``."""

    SUBMITTED = "submitted"
    PENDING = "pending"
    APPROVED = "approved"
    LANE_ACQUIRED = "lane_acquired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    REJECTED = "rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"
    LEASE_LOST = "lease_lost"  # no longer written; kept for records stored before lanes ran
    REFUSED_ATTEMPT = "refused_attempt"
    REFUSED_ATTEMPTS_CAPPED = "refused_attempts_capped"
    APPROVALS_RESET = "approvals_reset"
    CURRENT = "current"
    STALE = "stale"
    REVALIDATED = "revalidated"
    # on_stale="reapprove_if_changed": the change on the latest state is the one approved
    APPROVAL_KEPT = "approval_kept"
    CONFLICT = "conflict"
    DEPENDENCY_MET = "dependency_met"  # a request named by ``after`` is executed
    SCHEDULE_OPEN = "schedule_open"  # its schedule opened (or changed): it executes again
    QUOTA_FREE = "quota_free"  # a slot of its quota freed: it executes again
    BREAK_GLASS = "break_glass"  # submitted with break-glass, by the requester, with the reason
    CHECK_PASSED = "check_passed"  # an external check was reported passed
    CHECK_FAILED = "check_failed"  # an external check was reported failed
    SUPERSEDED = "superseded"  # a newer request of the same state and mutation ended it
    SUPERSEDES = "supersedes"  # this request ended older ones (``supersede=True``)
    # the original's side: a compensation was submitted for it (``mutator compensate``)
    COMPENSATION_REQUESTED = "compensation_requested"
    COMPENSATED = "compensated"  # the original's side: its compensation executed
    COMPENSATES = "compensates"  # the compensation's side: the request it undoes
    # a compensate_on_failure batch: one applied item undone, or its undo refused
    ITEM_COMPENSATED = "item_compensated"
    ITEM_NOT_COMPENSATED = "item_not_compensated"
    WARNED = "warned"  # an advisory Deny, or a policy that failed open: blocks nothing
    OVERRIDDEN = "overridden"  # a soft Deny overridden, by the actor, with their reason


def rejected_code(code: RejectionCode) -> str:
    """The lifecycle decision code of a rejection, e.g. ``rejected:policy_denied``."""
    return f"{DecisionCode.REJECTED.value}:{code.value}"


class SystemActor(StrEnum):
    """Who a decision is by when no person made it."""

    SYSTEM = "system"
    POLICY = "policy"  # the policies allowed it, or asked for approvals
    APPROVERS = "approvers"  # the approvals met every requirement
    GATES = "gates"  # every check passed (and the approvals, if any, met every requirement)
