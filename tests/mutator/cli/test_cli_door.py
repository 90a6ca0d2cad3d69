"""Bad input and oversized payloads stopped at the door, from the command line.

Runs on the `mutator dev` stack of tests/helpers/cli_world.py: every refusal exits 2 with a
message naming the field and the problem, prints no traceback, and leaves the store as it was.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mutator.limits import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_PAYLOAD_BYTES
from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import CliResult, CliStack, mutator_command, poll, run_mutator

pytestmark = [pytest.mark.fault, pytest.mark.slow]

stack = cli_world.stack
cli_store = cli_world.cli_store
world = cli_world.world
World = cli_world.World
Snapshot = cli_world.Snapshot
ok = cli_world.ok
uid = cli_world.uid


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def sized_payload(size: int, **fields: Any) -> dict[str, Any]:
    """``fields`` padded to exactly ``size`` bytes of compact JSON."""
    base = json.dumps({**fields, "pad": ""}, separators=(",", ":"))
    return {**fields, "pad": "x" * (size - len(base))}


def items_file(tmp: Path, items: list[dict[str, Any]] | str | bytes, name: str = "i.json") -> str:
    path = tmp / name
    if isinstance(items, bytes):
        path.write_bytes(items)
    else:
        path.write_text(items if isinstance(items, str) else json.dumps(items))
    return str(path)


SUBMIT = ["submit", "{acct}", "counter.add", "--actor", "bob"]

# (case id, argv with an {acct} placeholder, message parts); each exits 2.
REFUSED: list[tuple[str, list[str], list[str]]] = [
    (
        "lone-surrogate",
        [*SUBMIT, "--payload", '{"amount": 1, "note": "\\ud800"}'],
        ["--payload.note", "lone surrogate \\ud800"],
    ),
    ("nan", [*SUBMIT, "--payload", '{"amount": NaN}'], ["--payload", "NaN", "RFC 8259"]),
    (
        "infinity",
        [*SUBMIT, "--payload", '{"amount": 1, "x": -Infinity}'],
        ["--payload", "-Infinity", "RFC 8259"],
    ),
    (
        "number-overflows-to-infinity",
        [*SUBMIT, "--payload", '{"amount": 1, "x": 1e999}'],
        ["--payload.x", "inf is not a JSON number"],
    ),
    ("nested-500", [*SUBMIT, "--payload", deep(500)], ["--payload", "deeper than 64 levels"]),
    ("nested-20k", [*SUBMIT, "--payload", deep(20_000)], ["--payload", "deeper than 64 levels"]),
    (
        "nul-in-payload",
        [*SUBMIT, "--payload", '{"amount": 1, "note": "a\\u0000b"}'],
        ["--payload.note", "NUL character"],
    ),
    (
        "nul-in-payload-key",
        [*SUBMIT, "--payload", '{"amount": 1, "a\\u0000": 2}'],
        ["--payload (key", "NUL character"],
    ),
    ("request-id-empty", [*SUBMIT, "--request-id", ""], ["request_id: must not be empty"]),
    ("request-id-blank", [*SUBMIT, "--request-id", " "], ["request_id: must not be empty"]),
    ("request-id-unprintable", [*SUBMIT, "--request-id", "a\tb"], ["request_id", "unprintable"]),
    ("actor-blank", ["submit", "{acct}", "counter.add", "--actor", " "], ["actor: must not be"]),
    (
        "reason-too-long",
        [*SUBMIT, "--payload", '{"amount": 1}', "--reason", "r" * 4001],
        ["reason: 4001 characters is over the limit of 4000"],
    ),
    (
        "state-version-huge",
        ["state", "{acct}", "--version", "100000000000000000000"],
        ["--version", "less than or equal to 2147483647"],
    ),
    (
        "expected-version-huge",
        [*SUBMIT, "--expected-version", "100000000000000000000"],
        ["--expected-version", "2147483647"],
    ),
    ("address-garbage", [*SUBMIT, "--address", "::::"], ["address: '::::'", "host:port"]),
    ("address-bad-port", [*SUBMIT, "--address", "localhost:99999"], ["address", "port"]),
    (
        "comment-too-long",
        ["approve", "nosuch", "--actor", "bob", "--comment", "c" * 4001],
        ["comment: 4001 characters is over the limit of 4000"],
    ),
    (
        "cancel-reason-too-long",
        ["cancel", "nosuch", "--actor", "bob", "--reason", "c" * 4001],
        ["reason: 4001 characters"],
    ),
    ("update-id-empty", ["approve", "nosuch", "--actor", "bob", "--update-id", ""], ["update_id"]),
]


@pytest.mark.parametrize(("argv", "message"), [pytest.param(a, m, id=c) for c, a, m in REFUSED])
def test_bad_input_exits_2_and_stores_nothing(
    stack: CliStack,
    cli_store: Store,
    world: World,
    argv: list[str],
    message: list[str],
) -> None:
    args = [part.replace("{acct}", world.acct) for part in argv]
    as_json, as_text = cli_world.parallel(stack, (*args, "--json"), tuple(args))
    for result in (as_json, as_text):
        assert result.code == 2, result
        assert "Traceback" not in result.stdout + result.stderr, result
    for part in message:
        assert part in as_json.error, as_json
        assert part in as_text.stderr, as_text
    assert as_text.stdout == ""
    assert Snapshot.take(cli_store, world.acct) == world.baseline


def _batch(stack: CliStack, path: str, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    args = ("batch", path, "--mode", "independent", "--actor", "alice", "--json", *extra)
    if env is None:
        return stack.run(*args)
    return run_mutator(*args, env={**stack.env, **env}, cwd=stack.workdir)


def test_batch_files_that_are_not_json_text(stack: CliStack, tmp_path: Path) -> None:
    a = uid("bf")
    cases: dict[str, str | bytes] = {
        "not UTF-8 text (byte 0xff at offset 1)": b'[\xff{"state_id": "x"}]',
        "deeper than 64 levels": "[" * 50_000 + "]" * 50_000,
        "NaN is not a JSON number": json.dumps(
            [{"state_id": a, "mutation": "counter.add", "payload": {"amount": float("nan")}}]
        ),
        "items.0.payload: nested deeper than 64": json.dumps(
            [{"state_id": a, "mutation": "counter.add", "payload": json.loads(deep(65))}]
        ),
    }
    for index, (message, content) in enumerate(cases.items()):
        result = _batch(stack, items_file(tmp_path, content, f"{index}.json"))
        assert result.code == 2, result
        assert "Traceback" not in result.stderr, result
        assert message in result.error, result
    assert a not in {r["state_id"] for r in ok(stack.run("list", "--json"))["requests"]}


def test_batch_payloads_at_and_past_the_limits(
    stack: CliStack, cli_store: Store, tmp_path: Path
) -> None:
    a, b = uid("bl"), uid("bm")
    half = DEFAULT_MAX_BATCH_BYTES // 2

    def items(first: int, second: int) -> list[dict[str, Any]]:
        return [
            {"state_id": a, "mutation": "counter.add", "payload": sized_payload(first, amount=1)},
            {"state_id": b, "mutation": "counter.add", "payload": sized_payload(second, amount=2)},
        ]

    over_total = _batch(stack, items_file(tmp_path, items(half, half + 1), "over.json"))
    assert over_total.code == 2, over_total
    assert (
        f"items: the payloads total {DEFAULT_MAX_BATCH_BYTES + 1} bytes, over the limit of "
        f"{DEFAULT_MAX_BATCH_BYTES} bytes per batch" in over_total.error
    )
    # The case: a 1.5 MB item wedged the batch; now it never starts.
    huge = [
        {"state_id": a, "mutation": "counter.add", "payload": sized_payload(1_500_000, amount=1)}
    ]
    too_big = _batch(stack, items_file(tmp_path, huge, "huge.json"))
    assert too_big.code == 2, too_big
    assert (
        f"items.0.payload: 1500000 bytes is over the limit of {DEFAULT_MAX_PAYLOAD_BYTES} bytes"
        in too_big.error
    )
    too_many = [{"state_id": a, "mutation": "counter.add", "payload": {"amount": 1}}] * 101
    refused = _batch(stack, items_file(tmp_path, too_many, "many.json"))
    assert refused.code == 2
    assert "items: 101 items is over the limit of 100" in refused.error
    assert cli_store.get_state(a) is None
    assert cli_store.get_state(b) is None

    at_limit = ok(_batch(stack, items_file(tmp_path, items(half, half), "at.json")))
    assert at_limit["status"] == "executed", at_limit
    assert cli_store.current_version(a) == cli_store.current_version(b) == 1


def test_single_payload_at_and_past_a_configured_limit(
    stack: CliStack, cli_store: Store, tmp_path: Path
) -> None:
    """The command line cannot carry 256 KiB in one argument: the client's limit is set lower
    (MUTATOR_MAX_PAYLOAD_BYTES); the worker keeps its default."""
    acct = uid("lim")
    env = {**stack.env, "MUTATOR_MAX_PAYLOAD_BYTES": "1000"}

    def submit(size: int) -> CliResult:
        payload = json.dumps(sized_payload(size, amount=1), separators=(",", ":"))
        args = ("submit", acct, "counter.add", "--payload", payload, "--actor", "bob", "--json")
        return run_mutator(*args, env=env, cwd=stack.workdir)

    past = submit(1001)
    assert past.code == 2, past
    assert "payload: 1001 bytes is over the limit of 1000 bytes" in past.error
    assert "MUTATOR_MAX_PAYLOAD_BYTES" in past.error
    assert cli_store.get_state(acct) is None
    assert ok(submit(1000))["status"] == "executed"
    bad_env = run_mutator(
        "submit", acct, "counter.add", "--actor", "bob", "--json",
        env={**env, "MUTATOR_MAX_PAYLOAD_BYTES": "lots"}, cwd=stack.workdir,
    )  # fmt: skip
    assert bad_env.code == 2
    assert "MUTATOR_MAX_PAYLOAD_BYTES: must be an integer" in bad_env.error


def test_json_output_is_one_document_when_the_sdk_warns(
    stack: CliStack, cli_store: Store, tmp_path: Path
) -> None:
    """A 600 KB payload makes the SDK warn (TMPRL1103, over 512 KiB): the warning goes to
    stderr, stdout stays one JSON document. The client's limits are raised to let it through;
    the worker's are not, so the worker refuses it as validation_failed."""
    a = uid("warn")
    big = [{"state_id": a, "mutation": "counter.add", "payload": sized_payload(600_000, amount=1)}]
    raised = {"MUTATOR_MAX_PAYLOAD_BYTES": "1048576", "MUTATOR_MAX_BATCH_BYTES": "1048576"}
    result = _batch(stack, items_file(tmp_path, big), env=raised)
    assert "TMPRL1103" not in result.stdout, result
    refused = json.loads(result.stdout)  # the whole of stdout: one document
    assert result.code == 1, result
    assert refused["status"] == "rejected", refused
    assert refused["rejection"]["code"] == "validation_failed"
    assert (
        "items.0.payload: 600000 bytes is over the limit of 262144"
        in (refused["rejection"]["reason"])
    )
    assert "TMPRL1103" in result.stderr, result
    assert cli_store.get_state(a) is None


def test_approval_comment_at_and_past_the_limit(stack: CliStack, cli_store: Store) -> None:
    acct, rid = uid("cmt"), uid("cmt-req")
    payload = '{"name": "weekly", "value": 3}'
    ok(
        stack.run(
            "submit", acct, "limits.set", "--payload", payload, "--actor", "carol",
            "--request-id", rid, "--json",
        )
    )  # fmt: skip
    past = stack.run("approve", rid, "--actor", "alice", "--comment", "c" * 4001, "--json")
    assert past.code == 2
    assert "comment: 4001 characters is over the limit of 4000" in past.error
    assert cli_store.get_request(rid).approvals == []  # type: ignore[union-attr]
    voted = ok(stack.run("approve", rid, "--actor", "alice", "--comment", "c" * 4000, "--json"))
    assert [a["comment"] for a in voted["approvals"]] == ["c" * 4000]


def test_a_stopped_worker_is_busy_and_a_missing_one_is_missing(
    stack: CliStack, cli_store: Store
) -> None:
    """A worker that polls but does not answer (here: SIGSTOP, as during a long pause or a
    restart) gets exit 3 and the request as it stands; then the request runs. A task queue
    nobody polls gets exit 2, "no worker"."""
    queue = uid("tq")
    env = {**stack.env, "MUTATOR_TASK_QUEUE": queue, "MUTATOR_ADMISSION_TIMEOUT_SECONDS": "2"}
    out = stack.workdir / f"{queue}.out"
    with out.open("wb") as sink:
        worker = subprocess.Popen(
            [*mutator_command(), "worker", "--json"],
            cwd=stack.workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def running() -> bool | None:
            assert worker.poll() is None, out.read_text()
            return True if '"running"' in out.read_text() else None

        poll(running, timeout=30, what="`mutator worker` to start")
        acct = uid("busy")
        # Once, so the worker has polled; then freeze it.
        ok(run_mutator(*_add(acct), env=env, cwd=stack.workdir))
        worker.send_signal(signal.SIGSTOP)
        try:
            busy = run_mutator(*_add(acct), env=env, cwd=stack.workdir)
            assert busy.code == 3, busy
            as_it_stands = json.loads(busy.stdout)
            assert (as_it_stands["status"], as_it_stands["pending_reason"]) == (
                "pending",
                "evaluation",
            )
            assert "busy or restarting" in as_it_stands["error"]
            text = run_mutator(*_add(acct)[:-1], env=env, cwd=stack.workdir)
            assert text.code == 3, text
            assert "busy or restarting" in text.stderr, text
        finally:
            worker.send_signal(signal.SIGCONT)
        done = ok(
            run_mutator("wait", as_it_stands["request_id"], "--timeout", "30", "--json", env=env,
                        cwd=stack.workdir)
        )  # fmt: skip
        assert done["status"] == "executed"
        missing_env = {**env, "MUTATOR_TASK_QUEUE": uid("nobody")}
        missing = run_mutator(*_add(acct), env=missing_env, cwd=stack.workdir)
        assert missing.code == 2, missing
        assert "no worker polls task queue" in missing.error
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=30) == 0, out.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _add(acct: str) -> tuple[str, ...]:
    return ("submit", acct, "counter.add", "--payload", '{"amount": 1}', "--actor", "bob", "--json")
