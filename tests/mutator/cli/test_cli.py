"""The `mutator` command end to end: subprocesses against a real `mutator dev` stack.

One stack (Temporal dev server + worker + SQLite store, started by `mutator dev` exactly as
a user starts it) serves the whole module; the restart test runs its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mutator.store import Store
from tests.helpers import cli_signing, cli_world
from tests.helpers.cli_signing import SignedStack
from tests.helpers.cli_stack import (
    CliResult,
    CliStack,
    children_of,
    clean_env,
    free_port,
    mutator_command,
    poll,
    process_alive,
    run_mutator,
)

pytestmark = pytest.mark.slow

stack = cli_world.stack
signed_stack = cli_signing.signed_stack
cli_store = cli_world.cli_store
world = cli_world.world
World = cli_world.World
Snapshot = cli_world.Snapshot
ok = cli_world.ok
uid = cli_world.uid
submit = cli_world.submit
parallel = cli_world.parallel

REQUEST_FIELDS = {
    "request_id",
    "state_id",
    "mutation",
    "payload",
    "requester",
    "status",
    "pending_reason",
    "rejection",
    "required_approvals",
    "approvals",
    "base_version",
    "resulting_version",
    "error",
    "decisions",
    "created_at",
    "updated_at",
}
DECISION_FIELDS = {"category", "code", "actor", "reason", "at"}
APPROVAL_FIELDS = {"actor", "comment", "at"}
HISTORY_FIELDS = {"version", "request_id", "actor", "at", "data"}


# -- the README story ---------------------------------------------------------------------


@pytest.mark.parametrize("identity", ["claimed", "signed"])
def test_readme_story(identity: str, request: pytest.FixtureRequest) -> None:
    """The README's commands; in signed mode each person signs with their own key (`--key`)."""
    if identity == "claimed":
        stack: CliStack = request.getfixturevalue("stack")

        def key(user: str) -> tuple[str, ...]:
            return ()
    else:
        signed: SignedStack = request.getfixturevalue("signed_stack")
        stack, key = signed.stack, signed.key
    acct = uid("acct")
    lim = uid("lim")

    added = ok(submit(stack, acct, "counter.add", '{"amount": 5}', "alice", *key("alice")))
    assert set(added) >= REQUEST_FIELDS
    assert added["status"] == "executed"
    assert added["resulting_version"] == 1
    assert added["requester"] == "alice"
    assert added["decisions"][0]["code"] == "submitted"
    assert added["decisions"][-1]["code"] == "executed"

    pending = ok(
        stack.run(
            "submit",
            acct,
            "limits.set",
            "--payload",
            '{"name": "daily", "value": 500}',
            "--actor",
            "dave",
            "--reason",
            "raise the daily limit",
            "--request-id",
            lim,
            *key("dave"),
            "--json",
        )
    )
    assert pending["request_id"] == lim
    assert (pending["status"], pending["pending_reason"]) == ("pending", "approval")
    [requirement] = pending["required_approvals"]
    assert requirement["count"] == 2
    assert sorted(requirement["eligible"]) == ["alice", "bob", "carol"]
    assert pending["approvals"] == []

    first = ok(
        stack.run("approve", lim, "--actor", "alice", "--comment", "fine", *key("alice"), "--json")
    )
    assert first["status"] == "pending"
    [vote] = first["approvals"]
    assert set(vote) >= APPROVAL_FIELDS
    assert (vote["actor"], vote["comment"]) == ("alice", "fine")

    second = ok(stack.run("approve", lim, "--actor", "bob", *key("bob"), "--json"))
    assert [a["actor"] for a in second["approvals"]] == ["alice", "bob"]

    done = ok(stack.run("wait", lim, "--timeout", "30", "--json"))
    assert done["status"] == "executed"
    assert (done["base_version"], done["resulting_version"]) == (1, 2)

    denied = ok(
        submit(stack, acct, "counter.add", '{"amount": 5000}', "alice", *key("alice")), code=1
    )
    assert denied["status"] == "rejected"
    assert denied["rejection"]["code"] == "policy_denied"
    assert "amount 5000 is above the 1000 limit" in denied["rejection"]["reason"]
    assert denied["resulting_version"] is None

    show, state, v1, history, audit, all_reqs, rejected, executed, again = parallel(
        stack,
        ("show", lim, "--json"),
        ("state", acct, "--json"),
        ("state", acct, "--version", "1", "--json"),
        ("history", acct, "--json"),
        ("audit", "--request", lim, "--json"),
        ("list", "--state", acct, "--json"),
        ("list", "--status", "rejected", "--state", acct, "--json"),
        ("list", "--status", "executed", "--state", acct, "--json"),
        # The same --request-id again: that request, not a second one.
        ("submit", acct, "limits.set", "--actor", "eve", "--request-id", lim, "--json"),
    )
    shown = ok(show)
    assert set(shown) >= REQUEST_FIELDS
    assert shown["status"] == "executed"
    assert shown["reason"] == "raise the daily limit"
    assert shown["resulting_version"] == 2
    assert all(set(d) >= DECISION_FIELDS for d in shown["decisions"])
    codes = [d["code"] for d in shown["decisions"]]
    assert codes[0] == "submitted"
    assert codes[-1] == "executed"
    if identity == "signed":  # each person's decision keeps the key that signed it
        signers = {
            (d["code"], d["actor"]): d["proof"]["fingerprint"]
            for d in shown["decisions"]
            if d["proof"] is not None
        }
        assert signers == {
            ("submitted", "dave"): signed.keys["dave"].fingerprint(),
            ("approved", "alice"): signed.keys["alice"].fingerprint(),
            ("approved", "bob"): signed.keys["bob"].fingerprint(),
        }

    assert ok(state) == {"state_id": acct, "version": 2, "data": {"value": 5, "daily": 500}}
    assert ok(v1) == {"state_id": acct, "version": 1, "data": {"value": 5}}

    entries = ok(history)
    assert [set(e) for e in entries] == [HISTORY_FIELDS, HISTORY_FIELDS]
    assert [(e["version"], e["request_id"], e["actor"]) for e in entries] == [
        (1, added["request_id"], "alice"),
        (2, lim, "dave"),
    ]
    assert entries[1]["data"] == {"value": 5, "daily": 500}

    records = ok(audit)
    assert {r["request_id"] for r in records} == {lim}
    assert all(set(r) >= DECISION_FIELDS | {"state_id"} for r in records)
    assert [(r["category"], r["actor"]) for r in records if r["category"] == "approval"] == [
        ("approval", "alice"),
        ("approval", "bob"),
    ]
    assert records[-1]["code"] == "executed"

    assert {r["request_id"] for r in ok(all_reqs)["requests"]} == {
        added["request_id"],
        lim,
        denied["request_id"],
    }
    assert [r["request_id"] for r in ok(rejected)["requests"]] == [denied["request_id"]]
    assert {r["request_id"] for r in ok(executed)["requests"]} == {added["request_id"], lim}
    resubmitted = ok(again)
    assert (resubmitted["request_id"], resubmitted["requester"]) == (lim, "dave")
    assert resubmitted["status"] == "executed"


def test_human_output(stack: CliStack) -> None:
    acct = uid("acct")
    added = ok(submit(stack, acct, "counter.add", '{"amount": 7}', "bob"))
    rid = added["request_id"]
    show, listing, state, history, audit = parallel(
        stack,
        ("show", rid),
        ("list", "--state", acct),
        ("state", acct),
        ("history", acct),
        ("audit", "--state", acct),
    )
    for result in (show, listing, state, history, audit):
        assert result.code == 0, result
        assert rid in result.stdout or result is state, result
    assert "executed" in show.stdout
    assert "counter.add on " + acct in show.stdout
    assert f"mutation-request:{rid}" in show.stdout  # the Temporal UI link
    assert "version 1" in state.stdout
    assert '"value": 7' in state.stdout
    assert "executed" in audit.stdout


# -- bad input: a clear error, the right exit code, nothing changed -----------------------


SUBMIT_ONE = ["submit", "{acct}", "counter.add", "--payload", '{{"amount": 1}}', "--actor", "bob"]

# (case id, argv with {acct}/{executed}/{pending}/{tmp} placeholders, exit code, message parts)
BAD_INPUT: list[tuple[str, list[str], int, list[str]]] = [
    (
        "unknown-mutation",
        ["submit", "{acct}", "nosuch.op", "--payload", "{{}}", "--actor", "alice"],
        2,
        ["unknown mutation 'nosuch.op'", "counter.add"],
    ),
    (
        "payload-not-json",
        ["submit", "{acct}", "counter.add", "--payload", "{{amount: 1", "--actor", "alice"],
        2,
        ["--payload is not valid JSON"],
    ),
    (
        "payload-not-object",
        ["submit", "{acct}", "counter.add", "--payload", "[1, 2]", "--actor", "alice"],
        2,
        ["--payload must be a JSON object, got list"],
    ),
    ("approve-unknown-id", ["approve", "nosuch-req", "--actor", "bob"], 2, ["no request"]),
    ("show-unknown-id", ["show", "nosuch-req"], 2, ["no request with id 'nosuch-req'"]),
    ("wait-unknown-id", ["wait", "nosuch-req"], 2, ["no request with id 'nosuch-req'"]),
    ("audit-unknown-id", ["audit", "--request", "nosuch-req"], 2, ["no request"]),
    ("state-unknown-version", ["state", "{acct}", "--version", "99"], 2, ["no version 99"]),
    (
        "approver-not-eligible",
        ["approve", "{pending}", "--actor", "dave"],
        1,
        ["'dave' is not an eligible approver (eligible: alice, bob, carol)"],
    ),
    (
        "self-approval",
        ["approve", "{pending}", "--actor", "alice"],
        1,
        ["'alice' requested this change and cannot approve it"],
    ),
    (
        "second-vote",
        ["approve", "{pending}", "--actor", "carol"],
        1,
        ["'carol' has already approved this request"],
    ),
    (
        "reject-not-eligible",
        ["reject", "{pending}", "--actor", "dave", "--reason", "no"],
        1,
        ["'dave' is not an eligible approver and cannot reject"],
    ),
    (
        "reject-empty-reason",
        ["reject", "{pending}", "--actor", "bob", "--reason", " "],
        2,
        ["reason: must not be empty"],
    ),
    (
        "cancel-not-allowed",
        ["cancel", "{pending}", "--actor", "dave"],
        1,
        ["'dave' is neither the requester nor an eligible approver"],
    ),
    (
        "approve-after-end",
        ["approve", "{executed}", "--actor", "carol"],
        1,
        ["is executed", "no longer be changed"],
    ),
    (
        "reject-after-end",
        ["reject", "{executed}", "--actor", "carol", "--reason", "late"],
        1,
        ["is executed", "no longer be changed"],
    ),
    (
        "cancel-after-end",
        ["cancel", "{executed}", "--actor", "bob"],
        1,
        ["is executed", "no longer be changed"],
    ),
    ("wait-timeout", ["wait", "{pending}", "--timeout", "0.5"], 1, ["still pending"]),
    ("list-bogus-status", ["list", "--status", "bogus"], 2, ["'bogus' is not a status"]),
    ("list-bad-cursor", ["list", "--after", "bogus"], 2, ["--after", "not a cursor"]),
    ("usage-missing-actor", ["submit", "{acct}", "counter.add"], 2, ["Missing option '--actor'"]),
    ("usage-bad-int", ["state", "{acct}", "--version", "abc"], 2, ["--version"]),
    ("usage-unknown-command", ["frobnicate"], 2, ["No such command"]),
    (
        "temporal-unreachable",
        [*SUBMIT_ONE, "--address", "127.0.0.1:1"],
        2,
        ["cannot reach the Temporal server at 127.0.0.1:1", "mutator dev", "TEMPORAL_ADDRESS"],
    ),
    (
        "database-unreachable",
        [*SUBMIT_ONE, "--db", "postgresql+psycopg://x@127.0.0.1:1/x"],
        2,
        ["cannot reach the database", "MUTATOR_DATABASE_URL"],
    ),
    (
        "database-unreachable-read",
        ["list", "--db", "postgresql+psycopg://x@127.0.0.1:1/x"],
        2,
        ["cannot reach the database", "--db"],
    ),
    (
        "database-not-migrated",
        [*SUBMIT_ONE, "--db", "sqlite:///{tmp}/fresh.db"],
        2,
        ["mutator db upgrade"],
    ),
    (
        "database-not-migrated-read",
        ["show", "{executed}", "--db", "sqlite:///{tmp}/fresh-read.db"],
        2,
        ["mutator db upgrade"],
    ),
    (
        "app-no-module",
        ["worker", "--app", "nosuch.module:app"],
        2,
        ["cannot import module 'nosuch.module'"],
    ),
    (
        "app-no-attribute",
        ["worker", "--app", "mutator.example_app:nope"],
        2,
        ["has no attribute 'nope'"],
    ),
    ("app-no-format", ["worker", "--app", "noformat"], 2, ["package.module:attr"]),
    ("dev-app-no-format", ["dev", "--app", "noformat", "--port", "1"], 2, ["package.module:attr"]),
]


def _argv(template: list[str], world: World, tmp: Path) -> list[str]:
    return [
        part.format(acct=world.acct, executed=world.executed, pending=world.pending, tmp=tmp)
        for part in template
    ]


# Cases also run without --json, for people: one of each kind of failure.
TEXT_TOO = {
    "payload-not-json",
    "show-unknown-id",
    "approver-not-eligible",
    "usage-missing-actor",
    "temporal-unreachable",
    "database-not-migrated",
    "app-no-module",
    "app-no-attribute",
    "app-no-format",
    "dev-app-no-format",
}


@pytest.mark.parametrize(
    ("argv", "code", "message", "text_too"),
    [
        pytest.param(argv, code, msg, case in TEXT_TOO, id=case)
        for case, argv, code, msg in BAD_INPUT
    ],
)
def test_bad_input_changes_nothing(
    stack: CliStack,
    cli_store: Store,
    world: World,
    tmp_path: Path,
    argv: list[str],
    code: int,
    message: list[str],
    text_too: bool,
) -> None:
    """With --json the error is {"error": ...} on stdout; for people, one line on stderr."""
    args = _argv(argv, world, tmp_path)
    if text_too:
        as_json, as_text = parallel(stack, (*args, "--json"), tuple(args))
    else:
        as_json, as_text = stack.run(*args, "--json"), None
    for result in (as_json, as_text):
        if result is not None:
            assert result.code == code, result
            assert "Traceback" not in result.stderr, result
    for part in message:
        assert part in as_json.error, as_json
    if as_text is not None:
        assert as_text.stdout == "", as_text
        assert "error" in as_text.stderr.lower(), as_text
        for part in message:
            assert part in as_text.stderr, as_text
    assert Snapshot.take(cli_store, world.acct) == world.baseline


def test_validator_refusal_keeps_state(stack: CliStack, cli_store: Store, world: World) -> None:
    refused = ok(submit(stack, world.acct, "counter.add", '{"amount": "x"}', "bob"), code=1)
    assert refused["status"] == "rejected"
    assert refused["rejection"]["code"] == "validation_failed"
    assert "payload.amount must be an integer, got 'x'" in refused["rejection"]["reason"]
    after = Snapshot.take(cli_store, world.acct)
    assert (after.state, after.history) == (world.baseline.state, world.baseline.history)
    assert after.requests == {
        **world.baseline.requests,
        refused["request_id"]: ("rejected", after.requests[refused["request_id"]][1]),
    }
    # Refused on its own record; the earlier requests did not move.
    assert {k: after.requests[k] for k in world.baseline.requests} == world.baseline.requests


# -- running: worker, dev ------------------------------------------------------------------


def test_dev_banner(stack: CliStack) -> None:
    banner = stack.stdout_path.read_text()
    assert f"Temporal Web UI   http://localhost:{stack.ui_port}" in banner
    assert f"Temporal server   {stack.address}" in banner
    # Not the default port and database: the examples say how to reach this stack.
    assert (
        f"export TEMPORAL_ADDRESS={stack.address} MUTATOR_DATABASE_URL={stack.db_url} "
        f"MUTATOR_UI_URL=http://localhost:{stack.ui_port}"
    ) in banner
    assert "mutator approve lim-1 --actor alice" in banner
    assert "Ctrl-C stops" in banner
    # The README says its "Try it" commands are the ones the banner prints: each of them is.
    printed = {" ".join(line.split()) for line in banner.splitlines()}
    missing = [command for command in readme_try_it_commands() if command not in printed]
    assert missing == [], missing


def readme_try_it_commands() -> list[str]:
    """The `mutator ...` lines of the README's "Try it" code blocks, whitespace normalized."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```sh")[1:]
    lines = [line for block in blocks for line in block.split("```", 1)[0].splitlines()]
    commands = [" ".join(line.split()) for line in lines if line.startswith("mutator ")]
    assert len(commands) >= 10, commands
    return commands


def test_worker_starts_and_stops_on_ctrl_c(stack: CliStack) -> None:
    out = stack.workdir / f"{uid('worker')}.out"
    err = out.with_suffix(".err")
    with out.open("wb") as sink, err.open("wb") as err_sink:
        proc = subprocess.Popen(
            [*mutator_command(), "worker", "--json"],
            cwd=stack.workdir,
            env=stack.env,
            stdout=sink,
            stderr=err_sink,
        )
    try:

        def running() -> dict[str, Any] | None:
            assert proc.poll() is None, out.read_text()
            text = out.read_text()
            return CliResult([], 0, text, "").json() if '"running"' in text else None

        ready = poll(running, timeout=30, what="`mutator worker` to start")
        assert ready["task_queue"] == "mutator"
        assert ready["temporal_address"] == stack.address
        # The example app's identity is claimed: the worker says so, on stderr.
        assert "identity is claimed: anyone who can reach Temporal" in err.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, out.read_text() + err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dev_refuses_a_port_in_use(stack: CliStack, tmp_path: Path) -> None:
    result = run_mutator(
        "dev",
        "--port",
        str(stack.port),
        "--ui-port",
        str(free_port()),
        "--db",
        f"sqlite:///{tmp_path / 'other.db'}",
        "--data-dir",
        str(tmp_path / ".mutator"),
        "--json",
        env=clean_env(),
        cwd=tmp_path,
    )
    assert result.code == 2, result
    assert f"--port {stack.port} is already in use" in result.error


def test_restart_keeps_requests(tmp_path: Path) -> None:
    first = CliStack(tmp_path)
    first.start()
    try:
        acct = uid("acct")
        lim = uid("lim")
        added = ok(submit(first, acct, "counter.add", '{"amount": 3}', "alice"))
        ok(
            first.run(
                "submit",
                acct,
                "limits.set",
                "--payload",
                '{"name": "daily", "value": 1}',
                "--actor",
                "dave",
                "--request-id",
                lim,
                "--json",
            )
        )
        ok(first.run("approve", lim, "--actor", "alice", "--json"))
        dev_pid = first.proc.pid if first.proc else 0
        server_pid = first.server_pid
        assert server_pid is not None
    finally:
        code = first.stop() if first.proc is not None else None
    assert code == 0, first.logs()
    assert not process_alive(dev_pid)
    assert not process_alive(server_pid)
    assert "stopped" in first.stderr_path.read_text()

    second = CliStack(tmp_path, port=first.port, ui_port=first.ui_port)
    second.start()
    try:
        assert children_of(second.proc.pid if second.proc else 0)
        listing, shown = parallel(second, ("list", "--json"), ("show", lim, "--json"))
        assert {r["request_id"] for r in ok(listing)["requests"]} == {added["request_id"], lim}
        before = ok(shown)
        assert before["status"] == "pending"
        assert [a["actor"] for a in before["approvals"]] == ["alice"]
        # The pending request's workflow survived too: the second approval executes it.
        ok(second.run("approve", lim, "--actor", "bob", "--json"))
        done = ok(second.run("wait", lim, "--timeout", "30", "--json"))
        assert (done["status"], done["resulting_version"]) == ("executed", 2)
    finally:
        code = second.stop() if second.proc is not None else None
    assert code == 0, second.logs()


def test_batch_and_locks_from_the_cli(stack: CliStack, cli_store: Store, tmp_path: Path) -> None:
    a, b = uid("ba"), uid("bb")
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps(
            [
                {"state_id": a, "mutation": "counter.add", "payload": {"amount": 1}},
                {"state_id": b, "mutation": "counter.add", "payload": {"amount": 2}},
            ]
        )
    )
    done = ok(stack.run("batch", str(items), "--mode", "atomic", "--actor", "alice", "--json"))
    assert done["status"] == "executed"
    assert [i["outcome"] for i in done["items"]] == ["applied", "applied"]
    assert cli_store.current_version(a) == cli_store.current_version(b) == 1

    refused = tmp_path / "refused.json"
    refused.write_text(
        json.dumps([{"state_id": a, "mutation": "counter.add", "payload": {"amount": 5000}}])
    )
    denied = ok(
        stack.run("batch", str(refused), "--mode", "sequential", "--actor", "alice", "--json"),
        code=1,
    )
    assert denied["status"] == "rejected"
    assert cli_store.current_version(a) == 1

    not_json = tmp_path / "bad.json"
    not_json.write_text("[{")
    result = stack.run("batch", str(not_json), "--actor", "alice", "--json")
    assert result.code == 2
    assert "is not valid JSON" in result.json()["error"]
    result = stack.run("batch", str(items), "--mode", "sometimes", "--actor", "alice", "--json")
    assert result.code == 2

    lanes = ok(stack.run("locks", "--json"))
    assert {a, b} <= {lane["state_id"] for lane in lanes}
    for lane in lanes:
        assert set(lane) >= {
            "state_id",
            "holder_request_id",
            "fencing_token",
            "queue_length",
            "acquired_at",
            "expires_at",
            "stale",
        }


def test_worker_refuses_a_bad_cap(stack: CliStack) -> None:
    for bad in ("0", "-1", "many"):
        result = stack.run("worker", "--max-concurrent-mutations", bad, "--json")
        assert result.code == 2, result
        assert "max_concurrent_mutations must be an integer >= 1" in result.json()["error"]


def test_worker_gives_up_on_an_unreachable_temporal_after_a_bounded_wait(
    stack: CliStack, tmp_path: Path
) -> None:
    env = clean_env({"MUTATOR_DATABASE_URL": stack.db_url, "MUTATOR_CONNECT_WAIT_SECONDS": "2"})
    result = run_mutator("worker", "--address", "127.0.0.1:1", "--json", env=env, cwd=tmp_path)
    assert result.code == 2, result
    message = result.json()["error"]
    assert "cannot reach the Temporal server at 127.0.0.1:1" in message
    assert "gave up after 2s" in message
    assert "Traceback" not in result.stderr
