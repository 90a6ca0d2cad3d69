"""Open or closed: the pure decision over windows, freezes and a requested start time.

``schedule_status`` answers for one mutation on one state at one time; ``calendar`` lists
every window and freeze with its next transition (``mutator calendar``). Neither reads a
clock or a store: the caller passes the time and the freezes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from mutator.schedule.freezes import Freeze
from mutator.schedule.windows import Window

# How many times the next open time may be pushed (a freeze's end, then a window's opening,
# then a freeze again ...) before giving up on finding it.
MAX_PUSHES = 1000


class ScheduleBlock(BaseModel):
    """One thing that keeps a change from running now.

    Attributes:
        kind: ``freeze``, ``window`` (outside its window) or ``not_before`` (the requester's).
        name: The freeze's or window's name (``not_before``: empty).
        detail: What a person reads: the reason, the rule, the time.
        until: When this block alone lifts; None: never (a window that does not recur).
    """

    kind: Literal["freeze", "window", "not_before"]
    name: str
    detail: str
    until: datetime | None


class ScheduleStatus(BaseModel):
    """Whether a change may run at ``at``, and if not, why and from when.

    Attributes:
        at: The time asked about.
        open: Nothing blocks it.
        blocks: Everything that blocks it at ``at``.
        next_open: ``at`` when open, else the first time every block has lifted; None when
            it never will (a window without further occurrences).
    """

    at: datetime
    open: bool
    blocks: list[ScheduleBlock]
    next_open: datetime | None


def _blocks(
    at: datetime,
    mutation: str,
    state_id: str,
    windows: Sequence[Window],
    freezes: Sequence[Freeze],
    not_before: datetime | None,
) -> list[ScheduleBlock]:
    found = [
        ScheduleBlock(
            kind="freeze",
            name=f.name,
            detail=f"{f.reason} (by {f.started_by})",
            until=f.ends_at,
        )
        for f in freezes
        if f.active(at) and f.covers(mutation, state_id)
    ]
    for window in windows:
        if not window.is_open(at):
            found.append(
                ScheduleBlock(
                    kind="window",
                    name=window.name,
                    detail=f"{window.rrule} for {window.duration} in {window.tz}",
                    until=window.next_open(at),
                )
            )
    if not_before is not None and at < not_before:
        found.append(
            ScheduleBlock(
                kind="not_before", name="", detail=f"not before {not_before}", until=not_before
            )
        )
    return found


@dataclass(frozen=True)
class ScheduleTarget:
    """One change whose schedule counts: a mutation on a state, with the mutation's windows.

    Attributes:
        mutation: The mutation's name.
        state_id: The state it changes.
        windows: The windows the mutation must run in.
    """

    mutation: str
    state_id: str
    windows: Sequence[Window] = ()


def schedule_status(
    at: datetime,
    *,
    mutation: str,
    state_id: str,
    windows: Sequence[Window] = (),
    freezes: Sequence[Freeze] = (),
    not_before: datetime | None = None,
) -> ScheduleStatus:
    """May ``mutation`` change ``state_id`` at ``at``? And if not, from when?

    It may when every window in ``windows`` is open (the mutation's windows), no active
    freeze covers the mutation and the state, and ``at`` is not before ``not_before``. The
    next open time is the first time all of that holds, assuming no new freeze is declared.

    Args:
        at: The time (aware).
        mutation: The mutation's name.
        state_id: The state (a batch: ``batch_schedule_status``).
        windows: The windows the mutation must run in.
        freezes: The freezes (any; inactive ones and those not covering are ignored).
        not_before: The requester's earliest start.

    Returns:
        Open or closed, every block at ``at``, and the next open time.
    """
    target = ScheduleTarget(mutation=mutation, state_id=state_id, windows=windows)
    return batch_schedule_status(at, [target], freezes=freezes, not_before=not_before)


def batch_schedule_status(
    at: datetime,
    targets: Sequence[ScheduleTarget],
    *,
    freezes: Sequence[Freeze] = (),
    not_before: datetime | None = None,
) -> ScheduleStatus:
    """May every change of ``targets`` run at ``at``, together? And if not, from when?

    Open when each target's schedule is open (``schedule_status``) at the same time; the
    next open time is the first time that holds for all of them (None: none within
    ``MAX_PUSHES`` pushes, e.g. two windows that never overlap). A block shared by several
    targets (one freeze, one window) is listed once.
    """

    def blocks_at(moment: datetime) -> list[ScheduleBlock]:
        found: dict[tuple[str, str], ScheduleBlock] = {}
        for target in targets:
            for block in _blocks(
                moment, target.mutation, target.state_id, target.windows, freezes, not_before
            ):
                found.setdefault((block.kind, block.name), block)
        return list(found.values())

    blocks = blocks_at(at)
    if not blocks:
        return ScheduleStatus(at=at, open=True, blocks=[], next_open=at)
    candidate: datetime | None = at
    current = blocks
    for _ in range(MAX_PUSHES):
        lifts = [b.until for b in current]
        if any(lift is None for lift in lifts):
            candidate = None
            break
        candidate = max(lift for lift in lifts if lift is not None)
        current = blocks_at(candidate)
        if not current:
            break
    else:
        candidate = None
    return ScheduleStatus(at=at, open=False, blocks=blocks, next_open=candidate)


class CalendarEntry(BaseModel):
    """One window or freeze in ``mutator calendar``.

    Attributes:
        kind: ``window`` or ``freeze``.
        name: Its name.
        open: Windows: inside an occurrence. Freezes: False while active (changes it covers
            are closed).
        next_transition: When that flips; None: never.
        covers: Windows: the mutations that must run in it. Freezes: ``mutations`` glob on
            ``states`` glob.
        detail: Windows: the rule, duration and zone. Freezes: the reason and who declared it.
    """

    kind: Literal["window", "freeze"]
    name: str
    open: bool
    next_transition: datetime | None
    covers: str
    detail: str


def calendar(
    at: datetime,
    *,
    windows: Mapping[str, Window],
    mutation_windows: Mapping[str, str],
    freezes: Sequence[Freeze],
) -> list[CalendarEntry]:
    """Every window and every freeze active at ``at``, each with its next transition.

    Args:
        at: The time (aware).
        windows: The app's windows by name.
        mutation_windows: Each windowed mutation's window name.
        freezes: The stored freezes (those not active at ``at`` are left out).

    Returns:
        The windows by name, then the active freezes by end time.
    """
    entries = []
    for name in sorted(windows):
        window = windows[name]
        users = sorted(m for m, w in mutation_windows.items() if w == name)
        entries.append(
            CalendarEntry(
                kind="window",
                name=name,
                open=window.is_open(at),
                next_transition=window.next_transition(at),
                covers=", ".join(users) or "(no mutation)",
                detail=f"{window.rrule} for {window.duration} in {window.tz}",
            )
        )
    for freeze in sorted((f for f in freezes if f.active(at)), key=lambda f: f.ends_at):
        entries.append(
            CalendarEntry(
                kind="freeze",
                name=freeze.name,
                open=False,
                next_transition=freeze.ends_at,
                covers=f"mutations {freeze.mutations} on states {freeze.states}",
                detail=f"{freeze.reason} (by {freeze.started_by})",
            )
        )
    return entries
