"""External checks: systems outside Mutator (CI, a scanner) that pass or fail a request.

A policy returns ``RequireChecks("ci", "security-scan", timeout=...)``
(``mutator.policies``); the evaluation turns every such decision into one
``CheckRequirement`` per check name, with who may report it already expanded from the
directory. Each check is a gate of kind ``external_check`` (``mutator.gates``); a report
(``CheckReport``: the ``check`` update, the ``check_signal`` signal) passes or fails it.
What a report does to a request is ``mutator.lifecycle.checks``'. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# A check's name: what a CI job passes on the command line, so a plain token.
CHECK_NAME_PATTERN = r"^[A-Za-z0-9._:\-/]+$"
MAX_CHECK_NAME_CHARS = 100
# The most checks one request may wait for.
MAX_CHECKS = 20

CheckResult = Literal["passed", "failed"]
CHECK_RESULTS: tuple[CheckResult, ...] = ("passed", "failed")


class CheckRequirement(BaseModel):
    """One check a request must pass before it executes, as the evaluation found it.

    Attributes:
        name: The check's name (unique within the request).
        policies: The policies that asked for it.
        reporters: The user ids the policies named as reporters.
        roles: The roles the policies named as reporters.
        eligible: Who may report it: ``reporters`` plus the holders of ``roles``, or, when
            no policy restricts it, every user of the directory; never the requester.
        timeout_seconds: How long the check may take, from when the request starts waiting.
        deadline: When it runs out: set when the request starts waiting for it.
    """

    name: str = Field(min_length=1, max_length=MAX_CHECK_NAME_CHARS, pattern=CHECK_NAME_PATTERN)
    policies: list[str] = Field(default_factory=list)
    reporters: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    eligible: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(gt=0)
    deadline: datetime | None = None


class CheckReport(BaseModel):
    """The ``check`` update or ``check_signal`` signal: a check's result, and who reports it.

    Defaults keep a signal without ``actor`` or ``name`` readable, so that it is recorded as
    a refused attempt that says what is missing.

    Attributes:
        actor: Who reports (a CI service account, ...); must be eligible for the check.
        name: The check's name.
        result: ``passed`` or ``failed``.
        details: What the reporting system says (a build URL, the failing step, ...).
        envelope: Signed mode: the actor's envelope (action ``check``).
        signature: Signed mode: the SSHSIG signature over it.
    """

    actor: str = ""
    name: str = ""
    result: CheckResult
    details: str = ""
    envelope: dict[str, Any] | None = None
    signature: str | None = None


def check_comment(name: str, result: str, details: str) -> str:
    """What a signed report's envelope says as its ``comment``: the check, its result, details.

    The signature thereby covers the check's name, its result and its details, e.g.
    ``ci passed: build 812 green``.
    """
    return f"{name} {result}" + (f": {details}" if details else "")


def _merge(into: CheckRequirement, policy: str, reporters: set[str], roles: set[str]) -> None:
    into.policies.append(policy)
    into.reporters = sorted(set(into.reporters) | reporters)
    into.roles = sorted(set(into.roles) | roles)


def eligible_reporters(
    reporters: Sequence[str],
    roles: Sequence[str],
    directory: Mapping[str, frozenset[str]],
) -> set[str]:
    """Who may report a check: ``reporters`` plus ``roles``' holders; else the directory."""
    if not reporters and not roles:
        return set(directory)
    wanted = set(roles)
    return set(reporters) | {user for user, held in directory.items() if held & wanted}


def requirements_from(
    asked: Sequence[tuple[str, Sequence[str], frozenset[str], frozenset[str], float]],
    directory: Mapping[str, frozenset[str]],
    requester: str,
) -> list[CheckRequirement]:
    """One requirement per check name, from what each policy asked for.

    ``asked``: per ``RequireChecks``, ``(policy, names, reporters, roles, timeout_seconds)``.
    A name asked for by several policies is one check: its shortest timeout applies, and a
    reporter must be eligible under every policy that restricts it (each policy's rule
    holds). The requester may never report a check on their own request.

    Raises:
        ValueError: More than ``MAX_CHECKS`` checks, or a check nobody may report.
    """
    found: dict[str, CheckRequirement] = {}
    allowed: dict[str, set[str]] = {}
    for policy, names, reporters, roles, timeout in asked:
        who = eligible_reporters(sorted(reporters), sorted(roles), directory)
        for name in names:
            if name not in found:
                found[name] = CheckRequirement(name=name, timeout_seconds=timeout)
                allowed[name] = who
            else:
                found[name].timeout_seconds = min(found[name].timeout_seconds, timeout)
                allowed[name] &= who
            _merge(found[name], policy, set(reporters), set(roles))
    if len(found) > MAX_CHECKS:
        raise ValueError(
            f"RequireChecks: at most {MAX_CHECKS} checks per request, got {len(found)}"
        )
    for name, requirement in found.items():
        requirement.eligible = sorted(allowed[name] - {requester})
        if not requirement.eligible:
            raise ValueError(
                f"RequireChecks: nobody may report check {name!r} (asked by "
                f"{', '.join(requirement.policies)}): name reporters= or roles= held by a "
                "directory user other than the requester"
            )
    return list(found.values())


def merge_checks(lists: Sequence[Sequence[CheckRequirement]]) -> list[CheckRequirement]:
    """A batch's checks: its items' checks, one per name, as ``requirements_from`` merges them.

    A name several items require is one check: the shortest timeout, the reporters eligible
    for every item, the policies of all of them.

    Raises:
        ValueError: More than ``MAX_CHECKS`` checks, or a check nobody may report.
    """
    found: dict[str, CheckRequirement] = {}
    for checks in lists:
        for check in checks:
            if check.name not in found:
                found[check.name] = check.model_copy(deep=True)
                continue
            into = found[check.name]
            into.timeout_seconds = min(into.timeout_seconds, check.timeout_seconds)
            into.eligible = sorted(set(into.eligible) & set(check.eligible))
            for policy in check.policies:
                if policy not in into.policies:
                    _merge(into, policy, set(check.reporters), set(check.roles))
    if len(found) > MAX_CHECKS:
        raise ValueError(
            f"RequireChecks: at most {MAX_CHECKS} checks per request, got {len(found)}"
        )
    for name, check in found.items():
        if not check.eligible:
            raise ValueError(f"RequireChecks: nobody may report check {name!r} for every item")
    return list(found.values())


__all__ = [
    "CHECK_NAME_PATTERN",
    "CHECK_RESULTS",
    "MAX_CHECKS",
    "MAX_CHECK_NAME_CHARS",
    "CheckReport",
    "CheckRequirement",
    "CheckResult",
    "check_comment",
    "eligible_reporters",
    "merge_checks",
    "requirements_from",
]
