"""`mutator freeze` and `mutator calendar` as a user runs them, on a real store."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mutator.schedule import Freeze
from mutator.store import Store
from tests.helpers.cli_stack import CliResult, clean_env, run_mutator

LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")

APP = """
from datetime import timedelta
from mutator import MutationApp

app = MutationApp()
app.window(
    "weekday-mornings",
    rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
    duration=timedelta(hours=3),
    tz="Europe/Paris",
)

@app.mutation("limits.set", window={window!r})
def set_limit(state, payload):
    return {{**state, **payload}}
"""


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite store."""
    url = f"sqlite:///{tmp_path / 'cal.db'}"
    store = Store.from_url(url)
    store.migrate()
    store.dispose()
    return url


def mutator(db_url: str, tmp_path: Path, *args: str) -> CliResult:
    return run_mutator(*args, "--db", db_url, env=clean_env(), cwd=tmp_path)


def stored_freezes(db_url: str) -> list[Freeze]:
    store = Store.from_url(db_url)
    try:
        return store.freezes.list()
    finally:
        store.dispose()


def start(db_url: str, tmp_path: Path, name: str = "xmas", *extra: str) -> CliResult:
    return mutator(
        db_url,
        tmp_path,
        "freeze",
        "start",
        name,
        "--until",
        LATER,
        "--reason",
        "holidays",
        "--actor",
        "ops",
        "--json",
        *extra,
    )


def write_app(tmp_path: Path, window: str = "weekday-mornings", body: str = APP) -> str:
    (tmp_path / "calapp.py").write_text(textwrap.dedent(body.format(window=window)))
    return "calapp:app"


@pytest.mark.slow
def test_start_list_and_end_record_who_when_and_why(db_url: str, tmp_path: Path) -> None:
    started = start(db_url, tmp_path, "xmas", "--mutations", "limits.*", "--states", "acct-*")
    assert started.code == 0, started
    body = started.json()
    assert (body["name"], body["status"], body["started_by"], body["reason"]) == (
        "xmas",
        "active",
        "ops",
        "holidays",
    )
    assert (body["mutations"], body["states"]) == ("limits.*", "acct-*")

    ended = mutator(db_url, tmp_path, "freeze", "end", "xmas", "--actor", "carol", "--json")
    assert ended.code == 0, ended
    assert (ended.json()["status"], ended.json()["ended_by"]) == ("ended", "carol")

    listed = mutator(db_url, tmp_path, "freeze", "list", "--json")
    assert [(f["name"], f["status"], f["ended_by"]) for f in listed.json()["freezes"]] == [
        ("xmas", "ended", "carol")
    ]
    active = mutator(db_url, tmp_path, "freeze", "list", "--active", "--json")
    assert active.json() == {"freezes": []}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("next tuesday", "--until: 'next tuesday' is not an ISO 8601 time"),
        ("2026-02-30T10:00Z", "--until: '2026-02-30T10:00Z' is not an ISO 8601 time"),
        ("2027-01-01T10:00", "--until: '2027-01-01T10:00' has no UTC offset"),
        ("2020-01-01T00:00Z", "--until: 2020-01-01T00:00:00+00:00 is not in the future"),
    ],
)
def test_a_bad_until_exits_2_and_stores_nothing(
    db_url: str, tmp_path: Path, until: str, message: str
) -> None:
    done = mutator(
        db_url,
        tmp_path,
        "freeze",
        "start",
        "xmas",
        "--until",
        until,
        "--reason",
        "r",
        "--actor",
        "ops",
        "--json",
    )
    assert done.code == 2, done
    assert done.error.startswith(message)
    assert stored_freezes(db_url) == []


@pytest.mark.slow
def test_a_name_reused_while_active_exits_2_and_stores_nothing(db_url: str, tmp_path: Path) -> None:
    assert start(db_url, tmp_path).code == 0
    before = stored_freezes(db_url)
    again = start(db_url, tmp_path, "xmas", "--states", "other-*")
    assert again.code == 2, again
    assert again.error.startswith("NAME: a freeze named 'xmas' is already active")
    assert stored_freezes(db_url) == before


@pytest.mark.slow
def test_ending_an_unknown_freeze_exits_2(db_url: str, tmp_path: Path) -> None:
    done = mutator(db_url, tmp_path, "freeze", "end", "nope", "--actor", "ops", "--json")
    assert done.code == 2, done
    assert done.error == "NAME: no active freeze named 'nope'"
    assert stored_freezes(db_url) == []


@pytest.mark.slow
def test_calendar_shows_windows_and_freezes_with_their_next_transitions(
    db_url: str, tmp_path: Path
) -> None:
    app = write_app(tmp_path)
    assert start(db_url, tmp_path, "xmas", "--mutations", "limits.*").code == 0
    # Saturday 2026-12-05 noon UTC: the window opens Monday 09:00 Paris (08:00 UTC).
    at = "2026-12-05T12:00Z"
    shown = mutator(db_url, tmp_path, "calendar", "--at", at, "--app", app, "--json")
    assert shown.code == 0, shown
    entries = {e["name"]: e for e in shown.json()["entries"]}
    window = entries["weekday-mornings"]
    assert (window["open"], window["next_transition"], window["covers"]) == (
        False,
        "2026-12-07T08:00:00Z",
        "limits.set",
    )
    assert (entries["xmas"]["open"], entries["xmas"]["next_transition"]) == (
        False,
        LATER.replace("+00:00", "Z"),
    )

    status = mutator(
        db_url,
        tmp_path,
        "calendar",
        "--at",
        at,
        "--app",
        app,
        "--mutation",
        "limits.set",
        "--state",
        "acct-1",
        "--json",
    )
    assert status.code == 0, status
    body = status.json()
    assert body["open"] is False
    assert [b["kind"] for b in body["blocks"]] == ["freeze", "window"]
    assert body["next_open"] is not None

    people = mutator(db_url, tmp_path, "calendar", "--at", "2026-12-07T09:00Z", "--app", app)
    assert people.code == 0, people
    assert "weekday-mornings" in people.stdout
    assert "2026-12-07T11:00:00+00:00" in people.stdout  # open, closes at 12:00 Paris


@pytest.mark.slow
def test_calendar_refuses_a_bad_time(sqlite_url: str, tmp_path: Path) -> None:
    done = mutator(sqlite_url, tmp_path, "calendar", "--at", "soon", "--json")
    assert done.code == 2, done
    assert done.error.startswith("--at: 'soon' is not an ISO 8601 time")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("window", "body", "message"),
    [
        (
            "weekends",
            APP,
            "mutation 'limits.set': unknown window 'weekends' (declared windows: weekday-mornings)",
        ),
        ("x", APP.replace("FREQ=WEEKLY;", "FREQ=SOMETIMES;"), "rrule: 'FREQ=SOMETIMES;"),
        (
            "x",
            APP.replace("Europe/Paris", "Europe/Gotham"),
            "tz: unknown time zone 'Europe/Gotham'",
        ),
    ],
)
def test_worker_start_refuses_a_bad_window(
    sqlite_url: str, tmp_path: Path, window: str, body: str, message: str
) -> None:
    app = write_app(tmp_path, window, body)
    done = run_mutator(
        "worker",
        "--app",
        app,
        "--db",
        sqlite_url,
        "--address",
        "127.0.0.1:1",
        "--json",
        env=clean_env({"MUTATOR_CONNECT_WAIT_SECONDS": "0"}),
        cwd=tmp_path,
    )
    assert done.code == 2, done
    assert message in done.error
    store = Store.from_url(sqlite_url)
    try:
        assert store.registered_mutations() == []
    finally:
        store.dispose()
