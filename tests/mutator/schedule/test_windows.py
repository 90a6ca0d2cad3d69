"""Change windows (pure): RRULEs on a time zone's wall clock, DST, bad input, the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mutator.app import MutationApp
from mutator.errors import MutatorInputError
from mutator.schedule import Window

PARIS = ZoneInfo("Europe/Paris")
MONDAY_9_TO_17 = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def monday_window() -> Window:
    return Window("monday", MONDAY_9_TO_17, timedelta(hours=8), "Europe/Paris")


def test_open_inside_an_occurrence_closed_outside() -> None:
    w = monday_window()
    assert w.is_open(paris(2026, 11, 30, 9, 0))
    assert w.is_open(paris(2026, 11, 30, 16, 59))
    assert not w.is_open(paris(2026, 11, 30, 17, 0))
    assert not w.is_open(paris(2026, 11, 30, 8, 59))
    assert not w.is_open(paris(2026, 12, 1, 10, 0))


def test_next_transition_closes_when_open_and_opens_next_monday_when_closed() -> None:
    w = monday_window()
    assert w.next_transition(paris(2026, 11, 30, 10, 0)) == paris(2026, 11, 30, 17, 0)
    assert w.next_transition(paris(2026, 11, 30, 17, 0)) == paris(2026, 12, 7, 9, 0)
    assert w.next_open(paris(2026, 12, 2, 12, 0)) == paris(2026, 12, 7, 9, 0)
    assert w.next_open(paris(2026, 11, 30, 12, 0)) == paris(2026, 11, 30, 12, 0)


def test_wall_clock_start_is_kept_across_dst() -> None:
    """09:00 Paris is 08:00 UTC in winter and 07:00 UTC in summer."""
    w = monday_window()
    winter = w.next_open(paris(2026, 3, 28, 0, 0))  # Saturday before the spring change
    assert winter == paris(2026, 3, 30, 9, 0)
    assert winter is not None
    assert winter.astimezone(UTC).hour == 7
    assert w.next_open(paris(2026, 3, 21, 0, 0)).astimezone(UTC).hour == 8  # type: ignore[union-attr]


def test_start_in_the_spring_gap_opens_an_hour_later_on_the_wall() -> None:
    """02:30 does not exist on 2026-03-29 in Paris: the window opens at 03:30 CEST."""
    w = Window(
        "night", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0", timedelta(hours=1), "Europe/Paris"
    )
    opened = w.next_open(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert opened == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert opened is not None
    assert opened.astimezone(PARIS).hour == 3


def test_duration_is_elapsed_time_over_the_autumn_change() -> None:
    """From 00:00 for 4 hours on the night clocks go back: 03:00 on the wall, not 04:00."""
    w = Window("n", "FREQ=DAILY;BYHOUR=0;BYMINUTE=0;BYSECOND=0", timedelta(hours=4), "Europe/Paris")
    closes = w.next_transition(paris(2026, 10, 25, 0, 30))
    assert closes is not None
    assert closes == datetime(2026, 10, 24, 22, 0, tzinfo=UTC) + timedelta(hours=4)
    assert closes.astimezone(PARIS).hour == 3


def test_overlapping_occurrences_merge_and_a_permanent_window_never_closes() -> None:
    w = Window("always", "FREQ=DAILY", timedelta(days=2), "UTC")
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert w.is_open(at)
    assert w.next_transition(at) is None


def test_a_finished_rule_never_opens_again() -> None:
    w = Window(
        "once", "DTSTART:20260105T090000\nRRULE:FREQ=DAILY;COUNT=1", timedelta(hours=1), "UTC"
    )
    assert w.is_open(datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    assert w.next_open(datetime(2026, 1, 6, tzinfo=UTC)) is None
    assert w.next_transition(datetime(2026, 1, 6, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("FREQ=FORTNIGHTLY", "window 'w': rrule: 'FREQ=FORTNIGHTLY' is not an RFC 5545 RRULE"),
        ("every monday", "window 'w': rrule: 'every monday' is not an RFC 5545 RRULE"),
        ("", "window 'w': rrule: must be an RFC 5545 RRULE"),
        (
            "DTSTART:20260105T090000Z\nRRULE:FREQ=DAILY",
            "window 'w': rrule: DTSTART must be a wall-clock",
        ),
    ],
)
def test_an_rrule_that_does_not_parse_is_refused(rrule: str, message: str) -> None:
    app = MutationApp()
    with pytest.raises(MutatorInputError, match=message.replace("(", r"\(")):
        app.window("w", rrule=rrule, duration=timedelta(hours=1), tz="UTC")
    assert app.windows == {}


def test_an_unknown_timezone_is_refused() -> None:
    app = MutationApp()
    with pytest.raises(
        MutatorInputError, match="window 'w': tz: unknown time zone 'Europe/Atlantis'"
    ):
        app.window("w", rrule="FREQ=DAILY", duration=timedelta(hours=1), tz="Europe/Atlantis")
    assert app.windows == {}


def test_a_duration_that_is_not_positive_is_refused() -> None:
    with pytest.raises(
        MutatorInputError, match="window 'w': duration must be a positive timedelta"
    ):
        Window("w", "FREQ=DAILY", timedelta(0), "UTC")


def test_a_window_declared_twice_is_refused() -> None:
    app = MutationApp()
    app.window("w", rrule="FREQ=DAILY", duration=timedelta(hours=1), tz="UTC")
    with pytest.raises(MutatorInputError, match="window 'w' is declared twice"):
        app.window("w", rrule="FREQ=WEEKLY", duration=timedelta(hours=1), tz="UTC")


def test_an_unknown_window_on_a_mutation_names_the_mutation() -> None:
    app = MutationApp()
    app.window("weekdays", rrule="FREQ=DAILY", duration=timedelta(hours=1), tz="UTC")

    @app.mutation("limits.set", window="weekend")
    def set_limit(state: dict[str, object], payload: dict[str, object]) -> dict[str, object]:
        return state

    with pytest.raises(
        MutatorInputError,
        match=r"mutation 'limits.set': unknown window 'weekend' \(declared windows: weekdays\)",
    ):
        app.check_windows()


def test_the_app_gives_each_mutation_its_window() -> None:
    app = MutationApp()

    @app.mutation("a", window="monday")
    def a(state: dict[str, object], payload: dict[str, object]) -> dict[str, object]:
        return state

    @app.mutation("b")
    def b(state: dict[str, object], payload: dict[str, object]) -> dict[str, object]:
        return state

    declared = app.window(
        "monday", rrule=MONDAY_9_TO_17, duration=timedelta(hours=8), tz="Europe/Paris"
    )
    app.check_windows()
    assert app.windows_of("a") == [declared]
    assert app.windows_of("b") == []


ZONES = st.sampled_from(
    ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
)
INSTANTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    tz=ZONES,
    hour=st.integers(0, 23),
    hours=st.integers(1, 30),
    at=INSTANTS,
)
def test_next_open_is_open_and_nothing_before_it_is(
    tz: str, hour: int, hours: int, at: datetime
) -> None:
    """Whatever the zone and the DST changes: next_open is open, and so is at when it is."""
    w = Window(
        "w",
        f"FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR={hour};BYMINUTE=0;BYSECOND=0",
        timedelta(hours=hours),
        tz,
    )
    opened = w.next_open(at)
    assert opened is not None
    assert opened >= at
    assert w.is_open(opened)
    assert (opened == at) == w.is_open(at)
    if opened > at:
        assert not w.is_open(opened - timedelta(seconds=1))
        closes = w.next_transition(opened)
        assert closes is not None
        assert closes > opened
        assert not w.is_open(closes)
        assert w.is_open(closes - timedelta(seconds=1))


@settings(max_examples=80, deadline=None)
@given(
    freq=st.sampled_from(["HOURLY", "DAILY", "WEEKLY"]),
    interval=st.integers(1, 5),
    parts=st.lists(
        st.sampled_from(["BYDAY=MO,TH", "BYHOUR=3,15", "BYMINUTE=7", "BYSECOND=0", "WKST=SU"]),
        unique=True,
    ),
    # From a recent start, so the full walk this compares with stays short.
    dtstart=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2027, 1, 1)),
    at=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1)),
)
def test_searching_near_the_time_finds_the_same_occurrences(
    freq: str, interval: int, parts: list[str], dtstart: datetime, at: datetime
) -> None:
    """The shortcut that restarts a series near the time asked about changes no occurrence."""
    rule = ";".join([f"FREQ={freq}", f"INTERVAL={interval}", *parts])
    try:
        w = Window("w", f"DTSTART:{dtstart:%Y%m%dT%H%M%S}\nRRULE:{rule}", timedelta(hours=1), "UTC")
    except MutatorInputError:  # BY parts that select nothing (BYHOUR=3,15 every 4 hours ...)
        assume(False)
        raise
    full = w._rule.xafter(at, count=5, inc=True)
    near = w._rule_near(at).xafter(at, count=5, inc=True)
    assert list(near) == list(full)
