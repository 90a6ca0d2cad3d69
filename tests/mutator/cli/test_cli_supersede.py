"""Supersede from the command line against a real `mutator dev` (the example app's
``release.set`` declares ``supersede=True``)."""

from __future__ import annotations

import pytest

from tests.helpers import cli_world
from tests.helpers.cli_stack import CliStack

pytestmark = pytest.mark.slow

stack = cli_world.stack
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit


def test_a_newer_release_supersedes_the_older_one_waiting(stack: CliStack) -> None:
    app = uid("app")
    older = ok(submit(stack, app, "release.set", '{"version": "1.4"}', "dave"))
    assert (older["status"], older["pending_reason"]) == ("pending", "approval")
    newer = ok(submit(stack, app, "release.set", '{"version": "1.5"}', "dave"))
    assert newer["supersedes"] == [older["request_id"]]
    ended = ok(stack.run("show", older["request_id"], "--json"))
    assert (ended["status"], ended["superseded_by"]) == ("superseded", newer["request_id"])
    text = stack.run("show", older["request_id"])
    [line] = [line for line in text.stdout.splitlines() if line.strip().startswith("superseded by")]
    assert line.split() == ["superseded", "by", newer["request_id"]], text
    shown = stack.run("show", newer["request_id"])
    [line] = [line for line in shown.stdout.splitlines() if line.strip().startswith("supersedes")]
    assert line.split() == ["supersedes", older["request_id"]], shown
    listed = ok(stack.run("list", "--status", "superseded", "--state", app, "--json"))
    assert [r["request_id"] for r in listed["requests"]] == [older["request_id"]]
    refused = stack.run("approve", older["request_id"], "--actor", "alice")
    assert refused.code == 1, refused
    assert "superseded" in refused.stderr + refused.stdout, refused
    ok(stack.run("approve", newer["request_id"], "--actor", "alice", "--json"))
    done = ok(stack.run("wait", newer["request_id"], "--timeout", "60", "--json"))
    assert done["status"] == "executed"
    assert ok(stack.run("state", app, "--json"))["data"] == {"version": "1.5"}
