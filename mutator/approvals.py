"""Approval rules, pure and deterministic: the request workflow applies them to every vote."""

from __future__ import annotations

from collections.abc import Sequence

from mutator.models import Approval, ApprovalRequirement


def _counts_for(req: ApprovalRequirement, actor: str, requester: str) -> bool:
    if actor not in req.eligible:
        return False
    return actor != requester or req.allow_self_approval


def is_eligible(requirements: Sequence[ApprovalRequirement], actor: str) -> bool:
    """Whether ``actor`` is named by at least one requirement (may vote at all)."""
    return any(actor in req.eligible for req in requirements)


def refuse_approval(
    requirements: Sequence[ApprovalRequirement],
    requester: str,
    approvals: Sequence[Approval],
    actor: str,
) -> str | None:
    """Why ``actor`` may not approve now, or None when the vote is accepted."""
    if not actor.strip():
        return "actor must not be empty"
    if not is_eligible(requirements, actor):
        names = sorted({name for req in requirements for name in req.eligible})
        return f"{actor!r} is not an eligible approver (eligible: {', '.join(names) or 'nobody'})"
    if any(a.actor == actor for a in approvals):
        return f"{actor!r} has already approved this request; one vote per approver"
    if not any(_counts_for(req, actor, requester) for req in requirements):
        return f"{actor!r} requested this change and cannot approve it (self-approval not allowed)"
    return None


def refuse_rejection(requirements: Sequence[ApprovalRequirement], actor: str) -> str | None:
    """Why ``actor`` may not reject, or None: any eligible approver may, requester or not."""
    if not actor.strip():
        return "actor must not be empty"
    if not is_eligible(requirements, actor):
        return f"{actor!r} is not an eligible approver and cannot reject this request"
    return None


def refuse_cancel(
    requirements: Sequence[ApprovalRequirement], requester: str, actor: str
) -> str | None:
    """Why ``actor`` may not cancel, or None: the requester and eligible approvers may."""
    if not actor.strip():
        return "actor must not be empty"
    if actor == requester or is_eligible(requirements, actor):
        return None
    return f"{actor!r} is neither the requester nor an eligible approver and cannot cancel"


def progress(
    requirements: Sequence[ApprovalRequirement], requester: str, approvals: Sequence[Approval]
) -> list[tuple[int, int]]:
    """(valid votes, needed) per requirement."""
    return [
        (
            min(req.count, sum(1 for a in approvals if _counts_for(req, a.actor, requester))),
            req.count,
        )
        for req in requirements
    ]


def quorum_met(
    requirements: Sequence[ApprovalRequirement], requester: str, approvals: Sequence[Approval]
) -> bool:
    """Whether every requirement has its count of valid, distinct approvals."""
    return all(have >= need for have, need in progress(requirements, requester, approvals))


def describe_progress(
    requirements: Sequence[ApprovalRequirement], requester: str, approvals: Sequence[Approval]
) -> str:
    """One line per requirement, e.g. ``two_sres: 1 of 2 approvals (eligible: alice, bob)``."""
    parts = []
    for req, (have, need) in zip(
        requirements, progress(requirements, requester, approvals), strict=True
    ):
        who = ", ".join(sorted(req.eligible))
        parts.append(f"{req.policy}: {have} of {need} approvals (eligible: {who})")
    return "; ".join(parts)
