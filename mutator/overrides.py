"""Soft denials and their overrides, and advisory warnings: what the evaluation hands on.

A policy's ``Deny(reason, level="soft", override_roles=...)`` (``mutator.policies``) becomes
an ``OverrideRequirement``, with who may override it already expanded from the directory;
each is a gate of kind ``override`` (``mutator.gates``) that an ``OverrideInput`` (the
``override`` update, the ``override_signal`` signal) passes. ``Deny(level="advisory")``, and
a policy that failed open, become a ``PolicyWarning``: recorded as a ``warned`` decision,
blocking nothing. What an override does to a request is ``mutator.lifecycle.overrides``'.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class OverrideRequirement(BaseModel):
    """A soft denial a request waits on until someone eligible overrides it.

    Attributes:
        policy: The policy that denied (softly); the gate's name.
        reason: The policy's reason.
        roles: The directory roles whose holders may override it.
        eligible: Who may override it: the holders of ``roles``, never the requester.
        timeout_seconds: How long the override may take, from when the request starts waiting.
        deadline: When it runs out: set when the request starts waiting for it.
    """

    policy: str = Field(min_length=1)
    reason: str
    roles: list[str] = Field(default_factory=list)
    eligible: list[str] = Field(default_factory=list)
    timeout_seconds: float = Field(gt=0)
    deadline: datetime | None = None


class PolicyWarning(BaseModel):
    """An advisory denial, or a policy that failed open: recorded, blocking nothing.

    Attributes:
        policy: The policy.
        reason: What it said (or how it failed).
    """

    policy: str
    reason: str


class OverrideInput(BaseModel):
    """The ``override`` update or ``override_signal`` signal: who overrides, and why.

    Defaults keep a signal without ``actor`` readable, so that it is recorded as a refused
    attempt that says what is missing.

    Attributes:
        actor: Who overrides; must be eligible for at least one waiting soft denial.
        reason: Why (required): recorded on the ``overridden`` decision.
        envelope: Signed mode: the actor's envelope (action ``override``).
        signature: Signed mode: the SSHSIG signature over it.
    """

    actor: str = ""
    reason: str = ""
    envelope: dict[str, Any] | None = None
    signature: str | None = None


def override_requirement(
    policy: str,
    reason: str,
    roles: Iterable[str],
    timeout_seconds: float,
    directory: Mapping[str, frozenset[str]],
    requester: str,
) -> OverrideRequirement:
    """The requirement of one soft denial: who may override it (never the requester).

    Raises:
        ValueError: Nobody but the requester holds any of ``roles``: nobody could override it.
    """
    wanted = set(roles)
    eligible = sorted(u for u, held in directory.items() if held & wanted and u != requester)
    if not eligible:
        raise ValueError(
            f"policy {policy!r}: nobody may override its soft deny (override_roles "
            f"{', '.join(sorted(wanted))}): no directory user other than the requester holds them"
        )
    return OverrideRequirement(
        policy=policy,
        reason=reason,
        roles=sorted(wanted),
        eligible=eligible,
        timeout_seconds=timeout_seconds,
    )


def warning_text(warning: PolicyWarning) -> str:
    """A ``warned`` decision's reason: ``policy: reason``."""
    return f"{warning.policy}: {warning.reason}"
