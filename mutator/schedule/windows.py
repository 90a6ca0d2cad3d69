"""Change windows: recurring times (an RFC 5545 RRULE in an IANA time zone) when a mutation may run.

A window's occurrences are computed by ``python-dateutil``'s ``rrule`` on the wall clock of
its time zone, then placed on the timeline with ``zoneinfo``: "every Monday at 09:00 in
Europe/Paris" starts at 09:00 Paris time in winter and in summer. Each occurrence lasts
``duration`` of elapsed time. A wall-clock start that a DST change skips (02:30 on the
spring-forward night) starts at the instant that time would have had with the offset before
the change (03:30 on the new clock); one that a DST change repeats starts at its first
occurrence (``fold=0``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import lcm
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule as RecurrenceRule
from dateutil.rrule import rrulestr

from mutator.errors import MutatorInputError
from mutator.limits import check_name

# The series' start when the rule has no DTSTART: midnight on the wall clock. It fixes the
# phase of rules with INTERVAL > 1 and the fields the rule leaves out (BYMINUTE=0 ...).
DEFAULT_DTSTART = datetime(2000, 1, 3)  # a Monday
# How many occurrences are looked at to find the next opening or closing (a window whose
# occurrences overlap forever is open for good).
MAX_STEPS = 10_000
# Seconds per period of the fixed-length frequencies. A rule of one of them without COUNT
# repeats exactly every lcm(period x INTERVAL, one week) on the wall clock, so its series
# can be restarted that many seconds later without changing one occurrence: the search
# starts near the time asked about instead of at DTSTART (an hourly rule from 2000 would
# otherwise walk 200,000 occurrences per question).
_PERIOD_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
}
_WEEK_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Window:
    """A recurring change window.

    Attributes:
        name: How mutations name it (``@app.mutation(..., window=name)``).
        rrule: The RFC 5545 recurrence rule, e.g. ``FREQ=WEEKLY;BYDAY=MO;BYHOUR=9``; a
            ``DTSTART:...`` line may precede it (wall clock of ``tz``, no offset).
        duration: How long each occurrence stays open (elapsed time).
        tz: The IANA time zone of the rule's wall clock, e.g. ``Europe/Paris``.
    """

    name: str
    rrule: str
    duration: timedelta
    tz: str
    _rule: RecurrenceRule = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Parse and check the window; every problem names its field.

        Raises:
            MutatorInputError: The name is empty, the RRULE does not parse, the duration is
                not positive, or the time zone is unknown.
        """
        check_name(self.name, "window name")
        label = f"window {self.name!r}"
        if not isinstance(self.duration, timedelta) or self.duration <= timedelta(0):
            raise MutatorInputError(f"{label}: duration must be a positive timedelta")
        object.__setattr__(self, "_zone", zone(self.tz, f"{label}: tz"))
        object.__setattr__(self, "_rule", parse_rrule(self.rrule, f"{label}: rrule"))

    def _runs(self, at: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """Open intervals (overlapping occurrences merged) that end after ``at``, in order.

        A run's end is None when its occurrences still overlap after MAX_STEPS of them: the
        window does not close.
        """
        # An occurrence open at ``at`` started at most ``duration`` (plus a DST shift) earlier.
        earliest = self._wall(at - self.duration) - timedelta(days=1)
        run: tuple[datetime, datetime] | None = None
        for count, occurrence in enumerate(self._rule_near(earliest).xafter(earliest, inc=True)):
            if count >= MAX_STEPS:
                if run is not None:
                    yield run[0], None
                return
            begin = occurrence.replace(tzinfo=self._zone).astimezone(UTC)
            end = begin + self.duration
            if run is not None and begin <= run[1]:
                run = (run[0], max(run[1], end))
                continue
            if run is not None and run[1] > at:
                yield run
            run = (begin, end)
        if run is not None and run[1] > at:
            yield run

    def _rule_near(self, wall: datetime) -> RecurrenceRule:
        """The rule, its DTSTART moved forward by whole repeats to just before ``wall``."""
        first = next(iter(self._rule), None)
        parts = dict(
            part.split("=", 1)
            for part in str(self._rule).rsplit("RRULE:", 1)[-1].split(";")
            if "=" in part
        )
        period = _PERIOD_SECONDS.get(parts.get("FREQ", ""))
        if first is None or period is None or "COUNT" in parts or first >= wall:
            return self._rule
        step = lcm(period * int(parts.get("INTERVAL", "1")), _WEEK_SECONDS)
        repeats = int((wall - first).total_seconds()) // step
        if repeats <= 0:
            return self._rule
        return self._rule.replace(dtstart=first + timedelta(seconds=repeats * step))

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(self._zone).replace(tzinfo=None)

    def is_open(self, at: datetime) -> bool:
        """Whether an occurrence of the window is open at ``at`` (an aware time)."""
        first = next(self._runs(at), None)
        return first is not None and first[0] <= at

    def next_transition(self, at: datetime) -> datetime | None:
        """When the window next closes (open at ``at``) or opens (closed); None: never."""
        first = next(self._runs(at), None)
        if first is None:
            return None
        return first[1] if first[0] <= at else first[0]

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` when the window is open then, else when it opens next; None: never again."""
        first = next(self._runs(at), None)
        if first is None:
            return None
        return at if first[0] <= at else first[0]


def zone(name: str, label: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        MutatorInputError: No such zone; the message is ``label: ...``.
    """
    if not isinstance(name, str) or not name.strip():
        raise MutatorInputError(f"{label}: must be an IANA time zone name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MutatorInputError(
            f"{label}: unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC"
        ) from None


def parse_rrule(text: str, label: str) -> RecurrenceRule:
    """The recurrence rule of ``text`` on a naive wall clock (DTSTART default 2000-01-03).

    Raises:
        MutatorInputError: It does not parse, is a set of rules, or has a DTSTART with an
            offset; the message is ``label: ...``.
    """
    if not isinstance(text, str) or not text.strip():
        raise MutatorInputError(f"{label}: must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO")
    try:
        parsed = rrulestr(text.strip(), dtstart=DEFAULT_DTSTART, forceset=False)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MutatorInputError(f"{label}: {text!r} is not an RFC 5545 RRULE: {exc}") from None
    if not isinstance(parsed, RecurrenceRule):
        raise MutatorInputError(f"{label}: give one RRULE, not a set of rules ({text!r})")
    first = next(iter(parsed), None)
    if first is not None and first.tzinfo is not None:
        raise MutatorInputError(
            f"{label}: DTSTART must be a wall-clock time without a zone or offset; the "
            "window's tz gives the zone"
        )
    return parsed
