"""`mutator compensate` against a real `mutator dev` (the example app's ``counter.add`` declares
an inverse, ``flags.set`` none): restore and inverse, what `show` prints, and each refusal's
message and exit code with nothing stored."""

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
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit
Snapshot = cli_world.Snapshot


def _line(text: str, key: str) -> list[str]:
    [line] = [line for line in text.splitlines() if line.strip().startswith(key)]
    return line.split()


def test_restore_then_show_both_sides(stack: CliStack) -> None:
    acct = uid("acct")
    ok(submit(stack, acct, "counter.add", '{"amount": 5}', "dave"))
    original = ok(submit(stack, acct, "counter.add", '{"amount": 7}', "dave"))
    comp = ok(
        stack.run(
            "compensate",
            original["request_id"],
            "--actor",
            "carol",
            "--reason",
            "INC-3: double top-up",
            "--wait",
            "--timeout",
            "60",
            "--json",
        )
    )
    assert (comp["status"], comp["compensates"], comp["compensation_mode"]) == (
        "executed",
        original["request_id"],
        "restore",
    )
    assert ok(stack.run("state", acct, "--json"))["data"] == {"value": 5}
    ended = ok(stack.run("show", original["request_id"], "--json"))
    assert (ended["status"], ended["compensated_by"]) == ("compensated", comp["request_id"])
    assert [d["code"] for d in ended["decisions"]][-2:] == ["compensation_requested", "compensated"]
    shown = stack.run("show", original["request_id"]).stdout
    assert _line(shown, "compensated by") == ["compensated", "by", comp["request_id"]]
    assert _line(shown, "status") == ["status", "compensated"]
    shown = stack.run("show", comp["request_id"]).stdout
    assert _line(shown, "compensates") == ["compensates", original["request_id"], "(restore)"]
    listed = ok(stack.run("list", "--status", "compensated", "--state", acct, "--json"))
    assert [r["request_id"] for r in listed["requests"]] == [original["request_id"]]


def test_inverse_corrects_forward(stack: CliStack) -> None:
    acct = uid("acct")
    original = ok(submit(stack, acct, "counter.add", '{"amount": 5}', "dave"))
    ok(submit(stack, acct, "counter.add", '{"amount": 1}', "dave"))
    comp = ok(
        stack.run(
            "compensate",
            original["request_id"],
            "--actor",
            "carol",
            "--reason",
            "wrong account",
            "--mode",
            "inverse",
            "--wait",
            "--json",
        )
    )
    assert (comp["status"], comp["payload"]) == ("executed", {"amount": -5})
    assert ok(stack.run("state", acct, "--json"))["data"] == {"value": 1}


@pytest.mark.parametrize(
    ("case", "extra", "code", "message"),
    [
        ("unknown", (), 2, "request_id: no request with id"),
        ("rejected", (), 1, "is rejected: only an executed request can be compensated"),
        ("later", (), 1, "has later version 2 (restore only while its change is the latest"),
        ("no-inverse", ("--mode", "inverse"), 1, "mutation 'flags.set' declares no inverse"),
        ("compensated", (), 1, "is compensated already"),
        ("bad-mode", ("--mode", "undo"), 2, "mode: 'undo' is not a compensation mode"),
        ("no-reason", ("--reason", " "), 2, "reason: must not be empty"),
    ],
)
def test_refusals_exit_naming_the_reason_and_store_nothing(
    stack: CliStack,
    cli_store: Store,
    case: str,
    extra: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    acct = uid("acct")
    flag = ok(submit(stack, acct, "flags.set", '{"flag": "x", "enabled": true}', "dave"))
    target = {"unknown": uid("nope"), "no-inverse": flag["request_id"]}.get(case, "")
    if case == "rejected":
        target = ok(submit(stack, acct, "counter.add", '{"amount": 5000}', "dave"), 1)["request_id"]
    elif case == "later":
        ok(submit(stack, acct, "flags.set", '{"flag": "y", "enabled": true}', "dave"))
        target = flag["request_id"]
    elif case in ("compensated", "bad-mode", "no-reason"):
        other = uid("acct")
        target = ok(submit(stack, other, "counter.add", '{"amount": 5}', "dave"))["request_id"]
        if case == "compensated":
            ok(
                stack.run(
                    "compensate", target, "--actor", "carol", "--reason", "undo", "--wait", "--json"
                )
            )
        acct = other
    before = Snapshot.take(cli_store, acct)
    comp_id = uid("comp")
    args = ["--actor", "carol", "--reason", "undo", "--compensation-id", comp_id, *extra]
    refused = stack.run("compensate", target, *args)
    assert refused.code == code, refused
    assert message in refused.stderr + refused.stdout, refused
    assert "Traceback" not in refused.stderr, refused
    assert cli_store.get_request(comp_id) is None
    assert Snapshot.take(cli_store, acct) == before


def test_a_sequential_batch_compensates_on_failure(stack: CliStack, tmp_path: Path) -> None:
    acct = uid("acct")
    items = [
        {"state_id": acct, "mutation": "counter.add", "payload": {"amount": 2}},
        {"state_id": acct, "mutation": "counter.add", "payload": {"amount": 3}},
        # flags.set has no validator: its handler raises on the missing "flag" when it runs
        {"state_id": uid("flags"), "mutation": "flags.set", "payload": {}},
        {"state_id": acct, "mutation": "counter.add", "payload": {"amount": 4}},
    ]
    file = tmp_path / "saga.json"
    file.write_text(json.dumps(items))
    args = ("--actor", "dave", "--mode", "sequential", "--wait", "--json")
    batch = ok(stack.run("batch", str(file), *args, "--compensate-on-failure"), 1)
    assert batch["status"] == "failed"
    assert [i["outcome"] for i in batch["items"]] == [
        "compensated",
        "compensated",
        "failed",
        "not_run",
    ]
    assert ok(stack.run("state", acct, "--json"))["data"] == {"value": 0}
    refused = stack.run("batch", str(file), "--actor", "dave", "--compensate-on-failure")
    assert refused.code == 2, refused
    assert "compensate_on_failure: only a sequential batch compensates" in refused.stderr
