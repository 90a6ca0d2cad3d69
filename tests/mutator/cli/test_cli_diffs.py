"""Diffs and dry-runs from the command line against a real `mutator dev` (the example app).

``limits.set`` needs two of alice, bob and carol; ``counter.add`` is allowed up to 1000.
"""

from __future__ import annotations

import pytest

from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack
from tests.helpers.cli_world import Snapshot

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit


def _rows(text: str, key: str) -> list[str]:
    """The lines of ``show``'s table from the row ``key`` to the next row, without the key."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(key))
    indent = lines[start].index(key) + len(key)
    found = [lines[start][indent:].strip().split("  ")[-1].strip()]
    for line in lines[start + 1 :]:
        if line[: indent + 1].strip():
            break
        found.append(line.strip())
    return found


def test_show_prints_the_planned_then_the_applied_diff(stack: CliStack) -> None:
    acct = uid("acct")
    ok(submit(stack, acct, "counter.add", '{"amount": 1}', "dave"))
    added = ok(submit(stack, acct, "counter.add", '{"amount": 2}', "dave"))
    shown = stack.run("show", added["request_id"])
    assert shown.code == 0, shown
    assert _rows(shown.stdout, "planned diff (v1)") == ["replace /value 1 → 3"], shown
    assert _rows(shown.stdout, "applied diff (v1)") == ["as planned"], shown
    pending = ok(submit(stack, acct, "limits.set", '{"name": "cpu", "value": 8}', "dave"))
    assert pending["status"] == "pending"
    as_json = ok(stack.run("show", pending["request_id"], "--json"))
    assert as_json["planned_diff"]["ops"] == [{"op": "add", "path": "/cpu", "value": 8}]
    assert as_json["planned_diff"]["version"] == 2
    assert as_json["applied_diff"] is None
    shown = stack.run("show", pending["request_id"])
    assert _rows(shown.stdout, "planned diff (v2)") == ["add /cpu 8"], shown
    assert "applied diff" not in shown.stdout
    ok(stack.run("approve", pending["request_id"], "--actor", "alice", "--json"))
    ok(stack.run("approve", pending["request_id"], "--actor", "bob", "--json"))
    done = ok(stack.run("wait", pending["request_id"], "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    assert done["applied_diff"]["ops"] == done["planned_diff"]["ops"]


def test_dry_run_prints_what_would_happen_and_stores_nothing(
    stack: CliStack, cli_store: Store
) -> None:
    acct = uid("acct")
    ok(submit(stack, acct, "counter.add", '{"amount": 1}', "dave"))
    before = Snapshot.take(cli_store, acct)
    waits = ok(
        submit(stack, acct, "limits.set", '{"name": "cpu", "value": 8}', "dave", "--dry-run")
    )
    assert waits["outcome"] == "require_approvals"
    assert waits["eligible_approvers"] == ["alice", "bob", "carol"]
    assert waits["data"] == {"value": 1, "cpu": 8}
    assert waits["diff"]["ops"] == [{"op": "add", "path": "/cpu", "value": 8}]
    allowed = ok(submit(stack, acct, "counter.add", '{"amount": 4}', "dave", "--dry-run"))
    assert (allowed["outcome"], allowed["data"]) == ("allow", {"value": 5})
    denied = ok(submit(stack, acct, "counter.add", '{"amount": 5000}', "dave", "--dry-run"), 1)
    assert denied["outcome"] == "deny"
    assert "above the 1000 limit" in denied["reason"]
    invalid = ok(
        submit(stack, acct, "limits.set", '{"name": "cpu", "value": -1}', "dave", "--dry-run"), 1
    )
    assert invalid["outcome"] == "invalid"
    assert "payload.value must be a non-negative integer" in invalid["reason"]
    text = stack.run(
        "submit",
        acct,
        "limits.set",
        "--payload",
        '{"name": "cpu", "value": 8}',
        "--actor",
        "dave",
        "--dry-run",
    )
    assert text.code == 0, text
    assert _rows(text.stdout, "would wait for") == ["2 of alice, bob, carol (two_of_three)"], text
    assert _rows(text.stdout, "diff") == ["add /cpu 8"], text
    assert Snapshot.take(cli_store, acct) == before


@pytest.mark.parametrize(
    ("extra", "mutation", "message"),
    [
        ((), "limits.nope", "mutation: "),
        (("--wait",), "counter.add", "--dry-run: cannot be combined with --wait"),
        (("--request-id", "r-1"), "counter.add", "--dry-run: cannot be combined with --request-id"),
    ],
)
def test_a_bad_dry_run_exits_2_and_stores_nothing(
    stack: CliStack, cli_store: Store, extra: tuple[str, ...], mutation: str, message: str
) -> None:
    acct = uid("acct")
    ok(submit(stack, acct, "counter.add", '{"amount": 1}', "dave"))
    before = Snapshot.take(cli_store, acct)
    refused = submit(stack, acct, mutation, '{"amount": 1}', "dave", "--dry-run", *extra)
    assert refused.code == 2, refused
    assert message in refused.error, refused
    assert Snapshot.take(cli_store, acct) == before
