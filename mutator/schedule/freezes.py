"""Freezes: operator-declared stops on changes, kept in the store (``mutator freeze ...``)."""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime, timedelta

from dateutil.parser import isoparse
from pydantic import BaseModel

from mutator.errors import MutatorInputError
from mutator.limits import check_name, check_text


class Freeze(BaseModel):
    """One freeze, as the store keeps it: who declared it, why, and until when.

    Attributes:
        name: The freeze's name; unique among active freezes.
        mutations: A glob over mutation names; the freeze stops those that match.
        states: A glob over state ids; the freeze stops changes to those that match.
        reason: Why it was declared.
        until: When it ends by itself.
        started_by: Who declared it.
        started_at: When it was declared.
        ended_by: Who ended it early (``freeze end``), if anyone.
        ended_at: When it was ended early, if it was.
    """

    name: str
    mutations: str = "*"
    states: str = "*"
    reason: str
    until: datetime
    started_by: str
    started_at: datetime
    ended_by: str | None = None
    ended_at: datetime | None = None

    @property
    def ends_at(self) -> datetime:
        """When the freeze stops applying: its ``until``, or when it was ended, if earlier."""
        if self.ended_at is not None and self.ended_at < self.until:
            return self.ended_at
        return self.until

    def active(self, at: datetime) -> bool:
        """Whether the freeze applies at ``at``."""
        return self.started_at <= at < self.ends_at

    def covers(self, mutation: str, state_id: str) -> bool:
        """Whether the freeze stops ``mutation`` on ``state_id`` (while it is active)."""
        return fnmatch.fnmatchcase(mutation, self.mutations) and fnmatch.fnmatchcase(
            state_id, self.states
        )


# "+90m", "+2h", "+1d": a time relative to now (seconds, minutes, hours, days, weeks).
_RELATIVE = re.compile(r"\+(\d{1,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, field: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with a UTC offset (``2026-12-24T18:00Z``, ``...+01:00``), in UTC.

    With ``now``, also a time relative to it: ``+30m``, ``+2h``, ``+1d``, ``+1w``.

    Raises:
        MutatorInputError: Not ISO 8601 (nor relative, with ``now``), or without an offset;
            the message names ``field``.
    """
    relative = _RELATIVE.fullmatch(text.strip())
    if relative is not None and now is not None:
        amount, unit = relative.groups()
        return now.astimezone(UTC) + timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = isoparse(text.strip())
    except (ValueError, OverflowError, TypeError):
        also = " or a time from now such as +2h" if now is not None else ""
        raise MutatorInputError(
            f"{field}: {text!r} is not an ISO 8601 time; write e.g. 2026-12-24T18:00Z{also}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MutatorInputError(
            f"{field}: {text!r} has no UTC offset; add Z or +HH:MM, e.g. {text.strip()}Z"
        )
    return parsed.astimezone(UTC)


def check_glob(pattern: str, field: str) -> None:
    """A ``--mutations`` or ``--states`` glob: printable, non-empty, bounded.

    Raises:
        MutatorInputError: It is empty, too long or not printable.
    """
    check_name(pattern, field)


def new_freeze(
    *,
    name: str,
    until: datetime,
    reason: str,
    actor: str,
    now: datetime,
    mutations: str = "*",
    states: str = "*",
) -> Freeze:
    """A freeze declared at ``now``, every field checked.

    Raises:
        MutatorInputError: The name, actor or a glob is empty or malformed, the reason is
            empty or too long, or ``until`` is not after ``now``.
    """
    check_name(name, "NAME")
    check_name(actor, "--actor")
    check_glob(mutations, "--mutations")
    check_glob(states, "--states")
    check_text(reason, "--reason")
    if not reason.strip():
        raise MutatorInputError("--reason: must not be empty; say why changes are frozen")
    if until <= now:
        raise MutatorInputError(
            f"--until: {until.isoformat()} is not in the future (now is "
            f"{now.isoformat(timespec='seconds')})"
        )
    return Freeze(
        name=name,
        mutations=mutations,
        states=states,
        reason=reason,
        until=until,
        started_by=actor,
        started_at=now,
    )
