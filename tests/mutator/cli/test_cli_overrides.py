"""`mutator override` against a real `mutator dev` (the example app's `maintenance.set`)."""

from __future__ import annotations

import pytest

from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
Snapshot = cli_world.Snapshot
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit


def _maintenance(stack: CliStack) -> tuple[str, str]:
    acct = uid("mnt")
    req = ok(submit(stack, acct, "maintenance.set", '{"on": true}', "carol"))
    assert (req["status"], req["pending_reason"]) == ("pending", "override")
    return acct, req["request_id"]


def test_an_sre_overrides_the_soft_deny_and_the_change_executes(stack: CliStack) -> None:
    acct, request_id = _maintenance(stack)
    shown = stack.run("show", request_id)
    assert shown.code == 0, shown
    assert "gate override" in shown.stdout, shown
    assert "requires override" in shown.stdout, shown
    overridden = ok(
        stack.run(
            "override", request_id, "--actor", "alice", "--reason", "planned upgrade", "--json"
        )
    )
    assert [g["status"] for g in overridden["gates"]] == ["passed"]
    done = ok(stack.run("wait", request_id, "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    decision = next(d for d in done["decisions"] if d["code"] == "overridden")
    assert (decision["category"], decision["actor"], decision["reason"]) == (
        "approval",
        "alice",
        "planned upgrade",
    )
    assert ok(stack.run("state", acct, "--json"))["data"] == {"maintenance": True}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--actor", "ci-bot", "--reason", "x"), 1, "ci-bot may not override this request's"),
        (("--actor", "carol", "--reason", "x"), 1, "carol is the requester"),
        (("--actor", "alice", "--reason", "  "), 2, "reason: must not be empty"),
        (("--actor", "alice"), 2, "Missing option '--reason'"),
        (("--actor", "", "--reason", "x"), 2, "actor: must not be empty"),
    ],
)
def test_a_refused_or_bad_override_exits_and_changes_nothing(
    stack: CliStack, cli_store: Store, args: tuple[str, ...], code: int, message: str
) -> None:
    acct, request_id = _maintenance(stack)
    before = Snapshot.take(cli_store, acct)
    result = stack.run("override", request_id, *args)
    assert result.code == code, result
    assert message in result.stderr, result
    assert Snapshot.take(cli_store, acct) == before


def test_a_request_without_a_soft_deny_refuses_an_override(
    stack: CliStack, cli_store: Store
) -> None:
    acct = uid("mnt")
    done = ok(submit(stack, acct, "counter.add", '{"amount": 1}', "bob"))
    before = Snapshot.take(cli_store, acct)
    result = stack.run("override", done["request_id"], "--actor", "alice", "--reason", "x")
    assert result.code == 1, result
    assert "is executed; it can no longer be changed (override refused)" in result.stderr
    assert Snapshot.take(cli_store, acct) == before
