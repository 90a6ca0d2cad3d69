"""`submit --after` and `batch --after` from the command line, against a real `mutator dev`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
world = cli_world.world
World = cli_world.World
Snapshot = cli_world.Snapshot
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit


def test_submit_after_waits_then_executes(stack: CliStack) -> None:
    acct = uid("dep")
    first_id = uid("first")
    first = ok(
        submit(
            stack,
            acct,
            "limits.set",
            '{"name": "weekly", "value": 9}',
            "alice",
            "--request-id",
            first_id,
        )
    )
    assert first["pending_reason"] == "approval"
    second = ok(submit(stack, acct, "counter.add", '{"amount": 2}', "bob", "--after", first_id))
    assert (second["status"], second["pending_reason"]) == ("pending", "dependency")
    assert second["after"] == [first_id]
    assert second["gates"] == [
        {
            "kind": "dependency",
            "name": first_id,
            "status": "waiting",
            "detail": f"waits for {first_id} to be executed",
        }
    ]
    text = stack.run("show", second["request_id"])
    assert text.code == 0, text
    assert "gate dependency" in text.stdout, text
    assert f"{first_id}: waiting" in text.stdout, text
    ok(stack.run("approve", first_id, "--actor", "bob", "--json"))
    ok(stack.run("approve", first_id, "--actor", "carol", "--json"))
    done = ok(stack.run("wait", second["request_id"], "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    assert [g["status"] for g in done["gates"]] == ["passed"]
    codes = [d["code"] for d in done["decisions"]]
    assert codes[:3] == ["submitted", "pending", "dependency_met"]


def test_batch_after_a_rejected_request_is_rejected(stack: CliStack, tmp_path: Path) -> None:
    acct = uid("dep")
    first_id = uid("first")
    ok(
        submit(
            stack,
            acct,
            "limits.set",
            '{"name": "weekly", "value": 9}',
            "alice",
            "--request-id",
            first_id,
        )
    )
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps([{"state_id": acct, "mutation": "counter.add", "payload": {"amount": 1}}])
    )
    batch = ok(stack.run("batch", str(items), "--actor", "bob", "--after", first_id, "--json"))
    assert batch["pending_reason"] == "dependency"
    ok(stack.run("reject", first_id, "--actor", "carol", "--reason", "no", "--json"))
    done = ok(stack.run("wait", batch["request_id"], "--timeout", "60", "--json"), code=1)
    assert done["status"] == "rejected"
    assert done["rejection"]["code"] == "dependency_failed"
    assert done["rejection"]["reason"] == f"dependency {first_id} is rejected, not executed"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--after", "nobody-dep-1"), "after: no request with id 'nobody-dep-1'"),
        (
            ("--request-id", "self-dep-1", "--after", "self-dep-1"),
            "after: a request cannot wait for itself ('self-dep-1')",
        ),
        (("--after", "bad id"), "after: 'bad id' is not a request id"),
    ],
    ids=["unknown-id", "itself", "malformed"],
)
def test_bad_after_exits_2_and_changes_nothing(
    stack: CliStack, cli_store: Store, world: World, extra: tuple[str, ...], message: str
) -> None:
    result = submit(stack, world.acct, "counter.add", '{"amount": 1}', "bob", *extra)
    assert result.code == 2, result
    assert message in result.error, result
    assert Snapshot.take(cli_store, world.acct) == world.baseline
    text = stack.run("submit", world.acct, "counter.add", "--actor", "bob", *extra)
    assert text.code == 2, text
    assert message in text.stderr, text
    assert Snapshot.take(cli_store, world.acct) == world.baseline
