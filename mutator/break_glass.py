"""Break-glass: an emergency submit that bypasses approvals, windows, freezes and quotas.

``app.break_glass(roles={...}, approvals=N)`` declares who may declare an emergency (a
holder of one of ``roles`` in the app's directory) and how many holders of those roles,
other than the requester, must approve it (0: none). A break-glass request's policies and
validators still run: ``Deny``, a validator's refusal and the version check still apply,
but its approval requirements are replaced by that quorum. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta

from mutator.decisions import EvaluationOutcome
from mutator.models import ApprovalRequirement

# The approval requirement's name (its gate's name) for the break-glass quorum.
BREAK_GLASS_POLICY = "break_glass"
# How long the break-glass quorum may take, as a policy's approvals may by default.
BREAK_GLASS_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class BreakGlass:
    """Who may declare an emergency, and how many of them must approve it.

    Attributes:
        roles: The directory roles whose holders may submit with break-glass, and approve.
        approvals: How many holders of ``roles`` (not the requester) must approve (>= 0).
    """

    roles: frozenset[str]
    approvals: int

    def __post_init__(self) -> None:
        """Refuse a declaration that cannot be used.

        Raises:
            ValueError: ``roles`` is not a non-empty collection of role names, or
                ``approvals`` is not an integer >= 0; the message names the field.
        """
        if (
            isinstance(self.roles, str)
            or not self.roles
            or not all(isinstance(r, str) and r for r in self.roles)
        ):
            raise ValueError(
                f"break_glass roles must be a non-empty set of role names, got {self.roles!r}"
            )
        if (
            isinstance(self.approvals, bool)
            or not isinstance(self.approvals, int)
            or self.approvals < 0
        ):
            raise ValueError(
                f"break_glass approvals must be an integer >= 0, got {self.approvals!r}"
            )

    @classmethod
    def declare(cls, roles: object, approvals: int) -> BreakGlass:
        """``BreakGlass`` from ``app.break_glass``'s arguments (any collection of roles).

        Raises:
            ValueError: As the constructor; ``roles`` is not a collection (or is a string).
        """
        if isinstance(roles, str) or not isinstance(roles, Collection):
            raise ValueError(
                f"break_glass roles must be a non-empty set of role names, got {roles!r}"
            )
        return cls(roles=frozenset(roles), approvals=approvals)

    def refusal(self, requester: str, directory: Mapping[str, frozenset[str]]) -> str | None:
        """Why ``requester`` may not declare an emergency; None when they may."""
        if directory.get(requester, frozenset()) & self.roles:
            return None
        return (
            f"break-glass: {requester} holds none of the break-glass roles "
            f"({', '.join(sorted(self.roles))}) in the app's directory"
        )

    def requirement(self, directory: Mapping[str, frozenset[str]]) -> ApprovalRequirement:
        """The break-glass quorum as an approval requirement (the requester's vote never counts)."""
        eligible = sorted(user for user, held in directory.items() if held & self.roles)
        return ApprovalRequirement(
            policy=BREAK_GLASS_POLICY,
            count=self.approvals,
            approvers=[],
            roles=sorted(self.roles),
            eligible=eligible,
            allow_self_approval=False,
            timeout_seconds=BREAK_GLASS_TIMEOUT.total_seconds(),
        )


NOT_DECLARED = (
    "break-glass: this app declares no break-glass "
    "(app.break_glass(roles={...}, approvals=N)); submit without --break-glass"
)


def break_glass_outcome(
    rule: BreakGlass, outcome: EvaluationOutcome, directory: Mapping[str, frozenset[str]]
) -> tuple[EvaluationOutcome, list[ApprovalRequirement]]:
    """A break-glass request's outcome from its policies' ``outcome``.

    Invalid and deny stand. Otherwise the policies' approval requirements are replaced by the
    break-glass quorum: ``allow`` when it needs no approvals.
    """
    if outcome in (EvaluationOutcome.INVALID, EvaluationOutcome.DENY):
        return outcome, []
    if rule.approvals == 0:
        return EvaluationOutcome.ALLOW, []
    return EvaluationOutcome.REQUIRE_APPROVALS, [rule.requirement(directory)]
