"""`mutator check` against a real `mutator dev` (the example app's `release.deploy`)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

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


def _release(stack: CliStack) -> tuple[str, str]:
    acct = uid("rel")
    req = ok(submit(stack, acct, "release.deploy", '{"version": "1.4.2"}', "alice"))
    assert (req["status"], req["pending_reason"]) == ("pending", "external_check")
    return acct, req["request_id"]


def test_ci_reports_its_checks_and_the_release_executes(stack: CliStack) -> None:
    acct, request_id = _release(stack)
    shown = stack.run("show", request_id)
    assert shown.code == 0, shown
    assert "gate external_check" in shown.stdout, shown
    assert "ci: waiting" in shown.stdout, shown
    assert "requires check" in shown.stdout, shown
    first = ok(
        stack.run(
            "check",
            request_id,
            "ci",
            "--pass",
            "--details",
            "build 812",
            "--actor",
            "ci-bot",
            "--json",
        )
    )
    assert [g["status"] for g in first["gates"]] == ["passed", "waiting"]
    # The same report again (a retried CI step): exit 0, nothing recorded.
    again = ok(
        stack.run(
            "check",
            request_id,
            "ci",
            "--pass",
            "--details",
            "build 812",
            "--actor",
            "ci-bot",
            "--json",
        )
    )
    assert again["decisions"] == first["decisions"]
    ok(stack.run("check", request_id, "lint", "--pass", "--actor", "ci-bot", "--json"))
    done = ok(stack.run("wait", request_id, "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    codes = [d["code"] for d in done["decisions"]]
    assert codes.count("check_passed") == 2
    state = ok(stack.run("state", acct, "--json"))
    assert state["data"] == {"version": "1.4.2"}


def test_a_failed_check_rejects_with_check_failed(stack: CliStack) -> None:
    _, request_id = _release(stack)
    result = stack.run(
        "check",
        request_id,
        "lint",
        "--fail",
        "--details",
        "3 errors",
        "--actor",
        "ci-bot",
        "--json",
    )
    rejected = ok(result)  # the report was recorded: exit 0, as for `reject`
    assert rejected["status"] == "rejected"
    assert rejected["rejection"] == {
        "code": "check_failed",
        "reason": "check lint failed (reported by ci-bot): 3 errors",
        "actor": "system",
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("deploy", "--pass", "--actor", "ci-bot"), 1, "check 'deploy' is not required by"),
        (("ci", "--pass", "--actor", "bob"), 1, "bob may not report check ci (reporters: ci-bot)"),
        (("ci", "--pass", "--actor", "alice"), 1, "alice is the requester"),
        (("ci", "--actor", "ci-bot"), 2, "--pass/--fail: give the check's result"),
        (("a b", "--pass", "--actor", "ci-bot"), 2, "name: 'a b' is not a check name"),
        (("ci", "--pass", "--actor", ""), 2, "actor: must not be empty"),
    ],
)
def test_a_refused_or_bad_report_exits_and_changes_nothing(
    stack: CliStack, cli_store: Store, args: tuple[str, ...], code: int, message: str
) -> None:
    acct, request_id = _release(stack)
    before = Snapshot.take(cli_store, acct)
    result = stack.run("check", request_id, *args)
    assert result.code == code, result
    assert message in result.stderr, result
    assert Snapshot.take(cli_store, acct) == before


def test_a_request_not_waiting_refuses_a_report(stack: CliStack, cli_store: Store) -> None:
    acct = uid("rel")
    done = ok(submit(stack, acct, "counter.add", '{"amount": 1}', "bob"))
    before = Snapshot.take(cli_store, acct)
    result = stack.run("check", done["request_id"], "ci", "--pass", "--actor", "ci-bot")
    assert result.code == 1, result
    assert "is executed; it no longer waits for check reports" in result.stderr, result
    assert Snapshot.take(cli_store, acct) == before


def test_the_printed_signal_sent_with_the_temporal_cli_counts(stack: CliStack) -> None:
    _, request_id = _release(stack)
    printed = stack.run("check", request_id, "ci", "--pass", "--actor", "ci-bot", "--print-signal")
    assert printed.code == 0, printed
    line = next(x for x in printed.stdout.splitlines() if x.startswith("temporal workflow signal"))
    assert "--name check_signal" in line
    temporal = shutil.which("temporal")
    assert temporal is not None
    sent = subprocess.run(
        [temporal, *shlex.split(line)[1:], "--address", stack.address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr

    def reported() -> bool:
        shown = ok(stack.run("show", request_id, "--json"))
        return bool(shown["gates"][0]["status"] == "passed")

    from tests.helpers.cli_stack import poll

    poll(lambda: reported() or None, timeout=30, interval=0.3, what="the check_signal")
    signal = json.loads(line.split("--input ", 1)[1].strip("'"))
    assert signal == {"actor": "ci-bot", "name": "ci", "result": "passed", "details": ""}
