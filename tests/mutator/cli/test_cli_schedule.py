"""Freezes holding requests back, `freeze end` waking them, and `submit --not-before`, from
the command line against a real `mutator dev`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit

TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")


def test_freeze_end_wakes_the_request_it_held_back(stack: CliStack) -> None:
    acct = uid("frozen")
    name = uid("incident")
    ok(
        stack.run(
            "freeze",
            "start",
            name,
            "--until",
            TOMORROW,
            "--states",
            acct,
            "--reason",
            "incident 42",
            "--actor",
            "ops",
            "--json",
        )
    )
    held = ok(submit(stack, acct, "counter.add", '{"amount": 2}', "bob"))
    assert (held["status"], held["pending_reason"]) == ("pending", "schedule")
    assert held["scheduled_for"] is not None
    [gate] = [g for g in held["gates"] if g["kind"] == "schedule"]
    assert (gate["name"], gate["status"]) == (f"freeze {name}", "waiting")
    text = stack.run("show", held["request_id"])
    assert text.code == 0, text
    assert "gate schedule" in text.stdout, text

    ended = ok(stack.run("freeze", "end", name, "--actor", "carol", "--json"))
    assert (ended["status"], ended["ended_by"]) == ("ended", "carol")
    assert ended["woken"] == [held["request_id"]]
    done = ok(stack.run("wait", held["request_id"], "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    codes = [d["code"] for d in done["decisions"]]
    assert codes[:4] == ["submitted", "approved", "pending", "schedule_open"]
    assert codes[-1] == "executed"
    state = ok(stack.run("state", acct, "--json"))
    assert state["data"] == {"value": 2}


@pytest.mark.parametrize(
    ("not_before", "message"),
    [
        ("tomorrow", "--not-before: 'tomorrow' is not an ISO 8601 time"),
        ("2027-01-01T10:00", "--not-before: '2027-01-01T10:00' has no UTC offset"),
    ],
)
def test_a_bad_not_before_exits_2_and_stores_nothing(
    stack: CliStack, cli_store: Store, not_before: str, message: str
) -> None:
    acct = uid("nb")
    done = submit(stack, acct, "counter.add", '{"amount": 1}', "bob", "--not-before", not_before)
    assert done.code == 2, done
    assert done.error.startswith(message), done
    assert cli_store.list_requests(state_id=acct) == []
    assert cli_store.get_state(acct) is None


def test_not_before_holds_an_allowed_request(stack: CliStack) -> None:
    acct = uid("nb")
    held = ok(submit(stack, acct, "counter.add", '{"amount": 1}', "bob", "--not-before", TOMORROW))
    assert (held["status"], held["pending_reason"]) == ("pending", "schedule")
    assert held["not_before"] == held["scheduled_for"]
    text = stack.run("show", held["request_id"])
    assert text.code == 0, text
    assert "scheduled for" in text.stdout, text
    assert "not before" in text.stdout, text
    ok(stack.run("cancel", held["request_id"], "--actor", "bob", "--json"))


def test_a_batch_with_not_before_waits_and_a_bad_one_exits_2(
    stack: CliStack, cli_store: Store
) -> None:
    acct = uid("bnb")
    items = stack.workdir / f"{acct}.json"
    items.write_text(
        json.dumps([{"state_id": acct, "mutation": "counter.add", "payload": {"amount": 1}}])
    )
    bad = stack.run(
        "batch", str(items), "--actor", "bob", "--not-before", "2027-01-01T10:00", "--json"
    )
    assert bad.code == 2, bad
    assert bad.error.startswith("--not-before: '2027-01-01T10:00' has no UTC offset"), bad
    assert cli_store.list_requests(state_id=acct) == []
    held = ok(stack.run("batch", str(items), "--actor", "bob", "--not-before", TOMORROW, "--json"))
    assert (held["status"], held["pending_reason"]) == ("pending", "schedule")
    assert cli_store.get_state(acct) is None
    ok(stack.run("cancel", held["request_id"], "--actor", "bob", "--json"))


def test_readme_freeze_story(stack: CliStack) -> None:
    """The README's freeze commands, as written (the request id made unique)."""
    frz = uid("frz")
    started = ok(
        stack.run(
            "freeze",
            "start",
            "release-day",
            "--until",
            "+2h",
            "--mutations",
            "counter.*",
            "--reason",
            "release day",
            "--actor",
            "alice",
            "--json",
        )
    )
    try:
        until = datetime.fromisoformat(started["until"])
        assert timedelta(minutes=119) < until - datetime.now(UTC) <= timedelta(hours=2)
        held = ok(
            stack.run(
                "submit",
                "acct-2",
                "counter.add",
                "--payload",
                '{"amount": 1}',
                "--actor",
                "bob",
                "--request-id",
                frz,
                "--json",
            )
        )
        assert (held["status"], held["pending_reason"]) == ("pending", "schedule")
        assert held["scheduled_for"] == started["until"]
    finally:
        ended = ok(stack.run("freeze", "end", "release-day", "--actor", "alice", "--json"))
    assert frz in ended["woken"]
    done = ok(stack.run("wait", frz, "--timeout", "30", "--json"))
    assert done["status"] == "executed"
