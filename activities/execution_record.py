"""The record a lane-run execution stores with its change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mutator.decisions import DecisionCode, SystemActor
from mutator.models import Decision, DecisionCategory, MutationRequest, RequestStatus
from mutator.overrides import PolicyWarning, warning_text


def executed_record(
    request: MutationRequest,
    *,
    token: int | None,
    granted_at: datetime,
    expected_version: int | None,
    direct: bool = False,
    warnings: Sequence[PolicyWarning] = (),
) -> MutationRequest:
    """``request`` (approved, waiting for its turn) as it is stored when the change applies.

    ``direct``: the request was allowed by policy and found its state free in the same
    step, so its approval is recorded here too, after a ``warned`` decision per ``warnings``
    (advisory denials, policies that failed open).
    """
    record = request.model_copy(deep=True)
    now = datetime.now(UTC)

    def decide(
        category: DecisionCategory,
        code: DecisionCode,
        reason: str,
        at: datetime,
        actor: str = SystemActor.SYSTEM,
    ) -> None:
        record.decisions.append(
            Decision(category=category, code=code, actor=actor, reason=reason, at=at)
        )

    if direct:
        record.revision = request.revision + 1
        for warning in warnings:
            reason = warning_text(warning)
            decide(
                DecisionCategory.LIFECYCLE,
                DecisionCode.WARNED,
                reason,
                granted_at,
                SystemActor.POLICY,
            )
        decide(
            DecisionCategory.LIFECYCLE,
            DecisionCode.APPROVED,
            "allowed by policy",
            granted_at,
            SystemActor.POLICY,
        )
    elif token is not None:
        decide(
            DecisionCategory.LIFECYCLE,
            DecisionCode.LANE_ACQUIRED,
            f"fencing token {token}",
            granted_at,
        )
    if expected_version is not None:
        decide(
            DecisionCategory.VERSION_RESOLUTION,
            DecisionCode.CURRENT,
            f"state is at the base version {expected_version}",
            granted_at,
        )
    decide(
        DecisionCategory.LIFECYCLE,
        DecisionCode.EXECUTING,
        f"state free: executed directly, fencing token {token}" if direct else "",
        granted_at,
    )
    # The store fills in the resulting version.
    decide(DecisionCategory.LIFECYCLE, DecisionCode.EXECUTED, "", now)
    record.status = RequestStatus.EXECUTED
    record.pending_reason = None
    record.updated_at = now
    return record
