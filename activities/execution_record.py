"""The record a lane-run execution stores with its change."""

from __future__ import annotations

from datetime import UTC, datetime

from mutator.models import Decision, DecisionCategory, MutationRequest, RequestStatus


def executed_record(
    request: MutationRequest,
    *,
    token: int | None,
    granted_at: datetime,
    expected_version: int | None,
) -> MutationRequest:
    """``request`` (approved, waiting for its turn) as it is stored when the change applies."""
    record = request.model_copy(deep=True)
    now = datetime.now(UTC)

    def decide(category: DecisionCategory, code: str, reason: str, at: datetime) -> None:
        record.decisions.append(
            Decision(category=category, code=code, actor="system", reason=reason, at=at)
        )

    if token is not None:
        decide(DecisionCategory.LIFECYCLE, "lane_acquired", f"fencing token {token}", granted_at)
    if expected_version is not None:
        decide(
            DecisionCategory.VERSION_RESOLUTION,
            "current",
            f"state is at the base version {expected_version}",
            granted_at,
        )
    decide(DecisionCategory.LIFECYCLE, "executing", "", granted_at)
    # The store fills in the resulting version.
    decide(DecisionCategory.LIFECYCLE, "executed", "", now)
    record.status = RequestStatus.EXECUTED
    record.pending_reason = None
    record.updated_at = now
    return record
