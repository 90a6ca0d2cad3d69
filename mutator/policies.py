"""Policy decisions and how several of them combine into one outcome."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from mutator.external_checks import (
    CHECK_NAME_PATTERN,
    MAX_CHECK_NAME_CHARS,
    CheckRequirement,
    requirements_from,
)
from mutator.overrides import OverrideRequirement, PolicyWarning, override_requirement

DEFAULT_APPROVAL_TIMEOUT = timedelta(days=7)
DEFAULT_CHECK_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Allow:
    """The policy has no objection (in ``first_decisive`` mode: it admits the request)."""


@dataclass(frozen=True)
class Abstain:
    """The policy has no opinion: like ``Allow()``, except that it is never decisive.

    In ``MutationApp(policy_mode="first_decisive")`` the next policy decides instead.
    """


DenyLevel = Literal["hard", "soft", "advisory"]
DENY_LEVELS: tuple[DenyLevel, ...] = ("hard", "soft", "advisory")


@dataclass(frozen=True)
class Deny:
    """The policy objects to the request, at one of three levels.

    ``hard`` (the default): the request is rejected (``policy_denied``). ``soft``: the request
    waits ``pending`` (reason ``override``) until a holder of one of ``override_roles`` (in
    the directory, never the requester) overrides it with a reason, before ``timeout`` runs
    out. ``advisory``: a ``warned`` decision is recorded and nothing is blocked.

    Attributes:
        reason: Shown to the requester and recorded; the reasons of every denying policy are
            joined.
        level: ``hard``, ``soft`` or ``advisory``.
        override_roles: ``soft`` only: the directory roles whose holders may override it.
        timeout: ``soft`` only: how long the override may take; the request then expires.
    """

    reason: str
    level: DenyLevel = "hard"
    override_roles: frozenset[str] | set[str] = field(default_factory=frozenset)
    timeout: timedelta = DEFAULT_APPROVAL_TIMEOUT

    def __post_init__(self) -> None:
        """Refuse a level that is not one, and a soft deny nobody could override.

        Raises:
            ValueError: ``level`` is not a level; ``soft`` without ``override_roles``, or with
                a role that is not a non-empty string; ``override_roles`` on another level;
                a timeout that is not a positive timedelta.
        """
        if self.level not in DENY_LEVELS:
            raise ValueError(
                f"Deny.level must be one of {', '.join(DENY_LEVELS)}, got {self.level!r}"
            )
        roles = self.override_roles
        if isinstance(roles, str) or not all(isinstance(r, str) and r for r in roles):
            raise ValueError("Deny.override_roles: must be a set of non-empty role names")
        if self.level == "soft" and not roles:
            raise ValueError(
                'Deny(level="soft") needs override_roles: the roles whose holders may override it'
            )
        if self.level != "soft" and roles:
            raise ValueError(
                f"Deny.override_roles: only a soft deny is overridden, not {self.level}"
            )
        if not isinstance(self.timeout, timedelta) or self.timeout <= timedelta(0):
            raise ValueError(f"Deny.timeout must be a positive timedelta, got {self.timeout!r}")
        object.__setattr__(self, "override_roles", frozenset(roles))


@dataclass(frozen=True)
class RequireApprovals:
    """``count`` distinct eligible approvers must approve before ``timeout`` runs out.

    Eligible: every id in ``approvers`` plus every user whose directory roles include one of
    ``roles``. The requester's own vote counts only when ``allow_self_approval`` is set.

    Attributes:
        count: How many distinct eligible approvals are needed (>= 1).
        approvers: User ids who may approve.
        roles: Directory roles whose holders may approve.
        timeout: How long the approvals may take; the request then expires.
        allow_self_approval: Whether the requester may approve their own request.
    """

    count: int
    approvers: set[str] | frozenset[str] = field(default_factory=frozenset)
    roles: set[str] | frozenset[str] = field(default_factory=frozenset)
    timeout: timedelta = DEFAULT_APPROVAL_TIMEOUT
    allow_self_approval: bool = False

    def __post_init__(self) -> None:
        """Refuse a requirement nobody can meet.

        Raises:
            ValueError: ``count`` is below 1, no approver or role is named, or ``timeout`` is not
                positive.
        """
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"RequireApprovals.count must be an integer >= 1, got {self.count!r}")
        if not self.approvers and not self.roles:
            raise ValueError("RequireApprovals needs at least one approver id or role")
        if self.timeout <= timedelta(0):
            raise ValueError(f"RequireApprovals.timeout must be positive, got {self.timeout}")


@dataclass(frozen=True, init=False)
class RequireChecks:
    """Every named external check must be reported ``passed`` before ``timeout`` runs out.

    ``RequireChecks("ci", "security-scan", timeout=timedelta(hours=1))``. A check reported
    ``failed`` rejects the request (``check_failed``). Who may report: every id in
    ``reporters`` plus the holders of ``roles`` in the directory; with neither, any user of
    the directory. Never the requester (docs/security.md).

    Attributes:
        names: The checks, each a plain token (``ci``, ``security-scan``), no repeats.
        timeout: How long the checks may take, from when the request starts waiting.
        reporters: User ids who may report them.
        roles: Directory roles whose holders may report them.
    """

    names: tuple[str, ...]
    timeout: timedelta
    reporters: frozenset[str]
    roles: frozenset[str]

    def __init__(
        self,
        *names: str,
        timeout: timedelta = DEFAULT_CHECK_TIMEOUT,
        reporters: Iterable[str] = (),
        roles: Iterable[str] = (),
    ) -> None:
        """Name the checks; refuse a requirement nobody can meet.

        Raises:
            ValueError: No names, a repeated or malformed name, a non-positive or non-timedelta
                timeout, or a reporter or role that is not a non-empty string.
        """
        if not names:
            raise ValueError(
                'RequireChecks.names: name at least one check, e.g. RequireChecks("ci")'
            )
        for name in names:
            valid = isinstance(name, str) and len(name) <= MAX_CHECK_NAME_CHARS
            if not valid or not _CHECK_NAME.match(name):
                raise ValueError(
                    f"RequireChecks.names: {name!r} is not a check name (1-"
                    f"{MAX_CHECK_NAME_CHARS} letters, digits and . _ : - /)"
                )
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"RequireChecks.names: {', '.join(repeated)} named more than once")
        if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
            raise ValueError(f"RequireChecks.timeout must be a positive timedelta, got {timeout!r}")
        for label, values in (("reporters", reporters), ("roles", roles)):
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"RequireChecks.{label}: must be a set of non-empty strings")
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "reporters", frozenset(reporters))
        object.__setattr__(self, "roles", frozenset(roles))


_CHECK_NAME = re.compile(CHECK_NAME_PATTERN)


@dataclass(frozen=True)
class AllOf:
    """Several decisions that all apply, as one (what ``all_of(...)`` returns).

    Attributes:
        decisions: The member policies' decisions, in their order.
    """

    decisions: tuple[PolicyDecision, ...]


PolicyDecision = Allow | Abstain | Deny | RequireApprovals | RequireChecks | AllOf
# What a policy may return, for the error that names a policy returning something else.
DECISION_TYPES = (Allow, Abstain, Deny, RequireApprovals, RequireChecks, AllOf)


@dataclass(frozen=True)
class PolicyContext:
    """What a policy sees: the request and the state as it is at evaluation time.

    Attributes:
        state_id: The state the request changes.
        mutation: The mutation's name.
        payload: The mutation's arguments.
        state: The state's content now (empty before its first mutation).
        version: The state's version now (0 before its first mutation).
        requester: Who submitted the request.
        compensates: A compensation (``mutator compensate``): the id of the executed request
            it undoes; None for any other request.
        compensation_mode: A compensation's mode: ``restore`` (``payload`` is then the data
            the state returns to, and validators do not run) or ``inverse``; else None.
    """

    state_id: str
    mutation: str
    payload: dict[str, Any]
    state: dict[str, Any]
    version: int
    requester: str
    compensates: str | None = None
    compensation_mode: str | None = None


@dataclass(frozen=True)
class NamedDecision:
    """A policy's decision with the policy's name, for the record."""

    policy: str
    decision: PolicyDecision


@dataclass(frozen=True)
class CombinedDecision:
    """Any hard Deny denies (all deny reasons are kept); else every requirement applies.

    Every ``RequireApprovals``, every ``RequireChecks`` and every soft ``Deny`` (an override
    each) then applies, at the same time; every advisory ``Deny`` is a warning.
    """

    denials: list[NamedDecision]
    requirements: list[NamedDecision]
    checks: list[NamedDecision] = field(default_factory=list)
    soft_denials: list[NamedDecision] = field(default_factory=list)
    warnings: list[NamedDecision] = field(default_factory=list)

    @property
    def denied(self) -> bool:
        """Whether any policy denied (hard)."""
        return bool(self.denials)

    def check_requirements(
        self, directory: Mapping[str, frozenset[str]], requester: str
    ) -> list[CheckRequirement]:
        """One ``CheckRequirement`` per check name the ``RequireChecks`` decisions ask for.

        Raises:
            ValueError: More than ``MAX_CHECKS`` checks, or a check nobody may report
                (``mutator.external_checks.requirements_from``).
        """
        return requirements_from(
            [
                (d.policy, c.names, c.reporters, c.roles, c.timeout.total_seconds())
                for d in self.checks
                if isinstance(c := d.decision, RequireChecks)
            ],
            directory,
            requester,
        )

    def override_requirements(
        self, directory: Mapping[str, frozenset[str]], requester: str
    ) -> list[OverrideRequirement]:
        """One ``OverrideRequirement`` per soft ``Deny``.

        Raises:
            ValueError: A soft deny nobody but the requester could override.
        """
        return [
            override_requirement(
                d.policy,
                s.reason,
                s.override_roles,
                s.timeout.total_seconds(),
                directory,
                requester,
            )
            for d in self.soft_denials
            if isinstance(s := d.decision, Deny)
        ]

    def policy_warnings(self) -> list[PolicyWarning]:
        """One ``PolicyWarning`` per advisory ``Deny``."""
        return [
            PolicyWarning(policy=d.policy, reason=w.reason)
            for d in self.warnings
            if isinstance(w := d.decision, Deny)
        ]

    @property
    def deny_reason(self) -> str:
        """Every hard-denying policy's reason, ``policy: reason``, joined by ``; ``."""
        return "; ".join(
            f"{d.policy}: {d.decision.reason}" for d in self.denials if isinstance(d.decision, Deny)
        )


def _level(named: NamedDecision) -> str | None:
    return named.decision.level if isinstance(named.decision, Deny) else None


def flatten(decisions: list[NamedDecision]) -> list[NamedDecision]:
    """Every ``AllOf`` replaced by its members, each under the policy's name."""
    flat: list[NamedDecision] = []
    for named in decisions:
        if isinstance(named.decision, AllOf):
            flat.extend(flatten([NamedDecision(named.policy, d) for d in named.decision.decisions]))
        else:
            flat.append(named)
    return flat


def combine(decisions: list[NamedDecision]) -> CombinedDecision:
    """Combine the decisions of every policy that matched a request (``AllOf`` flattened)."""
    decisions = flatten(decisions)
    return CombinedDecision(
        denials=[d for d in decisions if _level(d) == "hard"],
        requirements=[d for d in decisions if isinstance(d.decision, RequireApprovals)],
        checks=[d for d in decisions if isinstance(d.decision, RequireChecks)],
        soft_denials=[d for d in decisions if _level(d) == "soft"],
        warnings=[d for d in decisions if _level(d) == "advisory"],
    )
