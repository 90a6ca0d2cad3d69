"""Open or closed (pure): freezes, windows and not-before together, and the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutator.errors import MutatorInputError
from mutator.schedule import (
    Freeze,
    ScheduleTarget,
    Window,
    batch_schedule_status,
    calendar,
    new_freeze,
    parse_time,
    schedule_status,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday
DAYTIME = Window("daytime", "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0", timedelta(hours=8), "UTC")


def freeze(
    name: str = "xmas", *, hours: float = 2, mutations: str = "*", states: str = "*"
) -> Freeze:
    return new_freeze(
        name=name,
        until=NOW + timedelta(hours=hours),
        reason="holidays",
        actor="ops",
        now=NOW,
        mutations=mutations,
        states=states,
    )


def test_nothing_applies_open_now() -> None:
    status = schedule_status(NOW, mutation="limits.set", state_id="acct-1")
    assert (status.open, status.blocks, status.next_open) == (True, [], NOW)


def test_a_covering_freeze_closes_until_it_ends() -> None:
    status = schedule_status(NOW, mutation="limits.set", state_id="acct-1", freezes=[freeze()])
    assert not status.open
    assert [(b.kind, b.name, b.until) for b in status.blocks] == [
        ("freeze", "xmas", NOW + timedelta(hours=2))
    ]
    assert status.blocks[0].detail == "holidays (by ops)"
    assert status.next_open == NOW + timedelta(hours=2)


def test_a_freeze_applies_only_to_what_its_globs_match() -> None:
    f = freeze(mutations="limits.*", states="acct-*")
    assert not schedule_status(NOW, mutation="limits.set", state_id="acct-1", freezes=[f]).open
    assert schedule_status(NOW, mutation="flags.set", state_id="acct-1", freezes=[f]).open
    assert schedule_status(NOW, mutation="limits.set", state_id="user-1", freezes=[f]).open


def test_an_ended_freeze_no_longer_applies() -> None:
    f = freeze().model_copy(update={"ended_at": NOW - timedelta(minutes=1), "ended_by": "ops"})
    assert schedule_status(NOW, mutation="m", state_id="s", freezes=[f]).open
    assert f.ends_at == NOW - timedelta(minutes=1)


def test_a_freeze_that_ends_outside_the_window_waits_for_the_next_opening() -> None:
    """Frozen until 18:00, the daytime window closed at 17:00: next open 09:00 tomorrow."""
    status = schedule_status(
        NOW, mutation="m", state_id="s", windows=[DAYTIME], freezes=[freeze(hours=6)]
    )
    assert [b.kind for b in status.blocks] == ["freeze"]
    assert status.next_open == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_not_before_and_a_window_together() -> None:
    status = schedule_status(
        NOW, mutation="m", state_id="s", windows=[DAYTIME], not_before=NOW + timedelta(hours=8)
    )
    assert [b.kind for b in status.blocks] == ["not_before"]
    assert status.next_open == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_window_that_never_opens_again_has_no_next_open() -> None:
    once = Window(
        "once", "DTSTART:20260105T090000\nRRULE:FREQ=DAILY;COUNT=1", timedelta(hours=1), "UTC"
    )
    status = schedule_status(NOW, mutation="m", state_id="s", windows=[once])
    assert not status.open
    assert status.blocks[0].until is None
    assert status.next_open is None


@settings(max_examples=80, deadline=None)
@given(
    at=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    freeze_hours=st.lists(st.floats(0.5, 200), max_size=3),
    not_before_hours=st.one_of(st.none(), st.floats(-10, 100)),
)
def test_next_open_is_open(
    at: datetime, freeze_hours: list[float], not_before_hours: float | None
) -> None:
    """The next open time is open and every block lifts by then."""
    freezes = [
        Freeze(
            name=f"f{i}", reason="r", until=at + timedelta(hours=h), started_by="ops", started_at=at
        )
        for i, h in enumerate(freeze_hours)
    ]
    not_before = None if not_before_hours is None else at + timedelta(hours=not_before_hours)
    args = {
        "mutation": "m",
        "state_id": "s",
        "windows": [DAYTIME],
        "freezes": freezes,
        "not_before": not_before,
    }
    status = schedule_status(at, **args)  # type: ignore[arg-type]
    assert status.next_open is not None
    assert status.next_open >= at
    assert schedule_status(status.next_open, **args).open  # type: ignore[arg-type]
    assert status.open == (status.next_open == at)
    assert all(b.until is not None and b.until <= status.next_open for b in status.blocks)


def test_calendar_lists_windows_and_active_freezes_with_their_transitions() -> None:
    ended = freeze("old").model_copy(update={"ended_at": NOW - timedelta(minutes=5)})
    entries = calendar(
        NOW,
        windows={"daytime": DAYTIME},
        mutation_windows={"limits.set": "daytime"},
        freezes=[freeze("xmas", hours=3, mutations="limits.*"), ended],
    )
    assert [(e.kind, e.name, e.open, e.next_transition, e.covers) for e in entries] == [
        ("window", "daytime", True, datetime(2026, 11, 30, 17, tzinfo=UTC), "limits.set"),
        ("freeze", "xmas", False, NOW + timedelta(hours=3), "mutations limits.* on states *"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "--until: 'tomorrow' is not an ISO 8601 time"),
        ("2026-13-01T00:00Z", "--until: '2026-13-01T00:00Z' is not an ISO 8601 time"),
        ("2026-12-24T18:00", "--until: '2026-12-24T18:00' has no UTC offset"),
    ],
)
def test_a_bad_time_names_the_field(text: str, message: str) -> None:
    with pytest.raises(MutatorInputError, match=message):
        parse_time(text, "--until")


def test_times_with_offsets_parse() -> None:
    assert parse_time("2026-12-24T18:00Z", "--at") == datetime(2026, 12, 24, 18, tzinfo=UTC)
    assert parse_time("2026-12-24T19:00+01:00", "--at") == datetime(2026, 12, 24, 18, tzinfo=UTC)


def test_times_from_now_parse_only_with_a_clock() -> None:
    now = datetime(2026, 12, 24, 18, tzinfo=UTC)
    assert parse_time("+90m", "--until", now) == now + timedelta(minutes=90)
    assert parse_time(" +2h ", "--until", now) == now + timedelta(hours=2)
    assert parse_time("+1d", "--until", now) == now + timedelta(days=1)
    assert parse_time("+1w", "--until", now) == now + timedelta(weeks=1)
    with pytest.raises(MutatorInputError, match="'\\+2h' is not an ISO 8601 time"):
        parse_time("+2h", "--until")
    for bad in ("+2x", "+h", "2h", "+-2h", "+1.5h"):
        with pytest.raises(
            MutatorInputError, match="is not an ISO 8601 time; .* or a time from now such as"
        ):
            parse_time(bad, "--until", now)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"until": NOW}, "--until: 2026-11-30T12:00:00\\+00:00 is not in the future"),
        ({"until": NOW - timedelta(days=1)}, "--until: .* is not in the future"),
        ({"reason": " "}, "--reason: must not be empty"),
        ({"name": ""}, "NAME: must not be empty"),
        ({"actor": ""}, "--actor: must not be empty"),
        ({"mutations": ""}, "--mutations: must not be empty"),
    ],
)
def test_a_bad_freeze_names_the_field(changes: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "name": "xmas",
        "until": NOW + timedelta(hours=1),
        "reason": "r",
        "actor": "ops",
        "now": NOW,
    } | changes
    with pytest.raises(MutatorInputError, match=message):
        new_freeze(**args)  # type: ignore[arg-type]


def test_a_batch_is_open_only_when_every_item_is() -> None:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    frozen = new_freeze(
        name="db",
        until=at + timedelta(hours=2),
        reason="migration",
        actor="ops",
        now=at,
        states="db-*",
    )
    targets = [
        ScheduleTarget(mutation="m", state_id="web-1"),
        ScheduleTarget(mutation="m", state_id="db-1"),
        ScheduleTarget(mutation="m", state_id="db-2"),
    ]
    status = batch_schedule_status(at, targets, freezes=[frozen])
    assert not status.open
    # One block for the freeze, though it covers two items.
    assert [(b.kind, b.name) for b in status.blocks] == [("freeze", "db")]
    assert status.next_open == at + timedelta(hours=2)
    later = batch_schedule_status(at, targets, freezes=[frozen], not_before=at + timedelta(hours=3))
    assert later.next_open == at + timedelta(hours=3)
    assert batch_schedule_status(at, targets[:1], freezes=[frozen]).open
