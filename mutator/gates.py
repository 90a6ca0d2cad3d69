"""Gates: what a ``pending`` request still waits for, as one ordered list.

Each gate is ``{kind, name, status, detail}``. The kinds are ordered (dependency, external
check, override, approval, schedule, quota): a request's ``pending_reason`` is the kind of its first
gate still ``waiting``. Every gate has a name within its kind (the dependency's request id,
the approval requirement's policy, ...), so a step replaces one gate without touching the
others. Pure: no clock, no I/O; ``mutator.lifecycle`` keeps a request's gates in step with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel


class GateKind(StrEnum):
    """What a gate waits for; its value is also the ``pending_reason`` it sets."""

    DEPENDENCY = "dependency"
    EXTERNAL_CHECK = "external_check"
    OVERRIDE = "override"  # a policy's soft Deny, until someone eligible overrides it
    APPROVAL = "approval"
    SCHEDULE = "schedule"
    QUOTA = "quota"


# The order in which gates are shown, and in which the first outstanding one is found.
# An override comes before the approvals: while a policy still objects (softly), that
# objection is what the request waits on first; the votes count meanwhile all the same.
GATE_ORDER: tuple[GateKind, ...] = (
    GateKind.DEPENDENCY,
    GateKind.EXTERNAL_CHECK,
    GateKind.OVERRIDE,
    GateKind.APPROVAL,
    GateKind.SCHEDULE,
    GateKind.QUOTA,
)


class GateStatus(StrEnum):
    """Where one gate stands."""

    WAITING = "waiting"  # outstanding: the request cannot go on past it yet
    PASSED = "passed"
    FAILED = "failed"  # it ended the request (e.g. a dependency that was not executed)


class Gate(BaseModel):
    """One thing a request waits for, or waited for.

    Attributes:
        kind: What it waits for.
        name: Which one, within its kind: a dependency's request id, a policy's name, ...
        status: Waiting, passed or failed.
        detail: Where it stands, in words (e.g. ``1 of 2 approvals (eligible: alice, bob)``).
    """

    kind: GateKind
    name: str
    status: GateStatus = GateStatus.WAITING
    detail: str = ""


def ordered(gates: Iterable[Gate]) -> list[Gate]:
    """The gates in ``GATE_ORDER``; within one kind, in the order they were given."""
    return sorted(gates, key=lambda gate: GATE_ORDER.index(gate.kind))


def outstanding(gates: Iterable[Gate]) -> list[Gate]:
    """The gates still waiting, in ``GATE_ORDER``."""
    return [gate for gate in ordered(gates) if gate.status == GateStatus.WAITING]


def first_outstanding(gates: Iterable[Gate]) -> Gate | None:
    """The first gate still waiting, in ``GATE_ORDER``; None when none waits."""
    waiting = outstanding(gates)
    return waiting[0] if waiting else None


def with_gate(gates: Sequence[Gate], gate: Gate) -> list[Gate]:
    """``gates`` with ``gate`` set: it replaces the gate of the same kind and name, if any."""
    kept = [g for g in gates if (g.kind, g.name) != (gate.kind, gate.name)]
    return ordered([*kept, gate])


def replaced_in_place(gates: Sequence[Gate], gate: Gate) -> list[Gate]:
    """``gates`` with the gate of ``gate``'s kind and name replaced where it stands.

    Unlike ``with_gate``, the gates of one kind keep the order they were given in (e.g.
    the order the policies asked for their checks).
    """
    return [gate if (g.kind, g.name) == (gate.kind, gate.name) else g for g in gates]


def with_kind(gates: Sequence[Gate], kind: GateKind, replacement: Sequence[Gate]) -> list[Gate]:
    """``gates`` with every gate of ``kind`` replaced by ``replacement``."""
    return ordered([*(g for g in gates if g.kind != kind), *replacement])


def describe(gates: Iterable[Gate]) -> list[str]:
    """One line per outstanding gate, e.g. ``dependency req-1: waits for req-1 to execute``."""
    return [
        f"{gate.kind.value} {gate.name}" + (f": {gate.detail}" if gate.detail else "")
        for gate in outstanding(gates)
    ]
