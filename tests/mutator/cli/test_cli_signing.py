"""Signing from the command line: `--key`, `--ssh-agent`, `--sign/--no-sign`, `--print-signal`.

Against a real `mutator dev` stack running the example app in signed mode, with real keys
(tests/helpers/cli_signing.py). What each command sent is read back from the workflow's event
history and verified with `mutator.identity.verify.verify` against the request as stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from mutator.client_messages import send_update
from mutator.contracts import ApproveInput
from mutator.errors import MutatorRefused
from mutator.identity.envelope import Action
from mutator.identity.requests import expected_for
from mutator.identity.verify import Verified, verify
from mutator.models import MutationRequest
from mutator.reader import StoreReader
from mutator.store import Store
from tests.helpers import cli_signing
from tests.helpers.cli_signing import CAROL_PASSPHRASE, SignedStack, sent_inputs
from tests.helpers.cli_stack import mutator_command, poll
from tests.helpers.cli_world import ok, uid
from tests.mutator.identity.keys import make_key

pytestmark = pytest.mark.slow

signed_stack = cli_signing.signed_stack

SIGNING_COMMANDS = ("submit", "batch", "approve", "reject", "cancel")


@pytest.fixture(scope="module")
def store(signed_stack: SignedStack) -> Iterator[Store]:
    found = Store.from_url(signed_stack.stack.db_url)
    try:
        yield found
    finally:
        found.dispose()


def pending(signed: SignedStack, *extra: str) -> str:
    """A new limits.set request by dave, signed, waiting for two approvals."""
    request_id = uid("lim")
    body = ok(
        signed.run(
            "submit",
            uid("acct"),
            "limits.set",
            "--payload",
            '{"name": "daily", "value": 500}',
            "--actor",
            "dave",
            "--reason",
            "raise it",
            "--request-id",
            request_id,
            *signed.key("dave"),
            *extra,
            "--json",
        )
    )
    assert (body["status"], body["pending_reason"]) == ("pending", "approval"), body
    return request_id


def check(
    sent: dict[str, Any], request: MutationRequest, action: Action, actor: str, signed: SignedStack
) -> Verified:
    return verify(
        sent["envelope"],
        sent["signature"],
        signed.directory,
        expected=expected_for(request, action, actor),
        now=datetime.now(UTC),
    )


def stored(store: Store, request_id: str) -> MutationRequest:
    found = store.get_request(request_id)
    assert found is not None
    return found


# -- what a signed command sends --------------------------------------------------------


async def test_signed_submit_and_votes_verify(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "alice",
            "--comment",
            "fine",
            *signed_stack.key("alice"),
            "--json",
        )
    )
    done = ok(
        signed_stack.run(
            "approve", request_id, "--actor", "bob", *signed_stack.key("bob"), "--json"
        )
    )
    assert done["status"] in ("approved", "executing", "executed")
    request = stored(store, request_id)
    sent = await sent_inputs(signed_stack.stack.address, request_id)
    [start] = sent["start"]
    assert check(start, request, "submit", "dave", signed_stack).envelope.comment == "raise it"
    by_alice, by_bob = sent["approve"]
    verified = check(by_alice, request, "approve", "alice", signed_stack)
    assert (verified.envelope.comment, verified.fingerprint) == (
        "fine",
        signed_stack.keys["alice"].fingerprint(),
    )
    assert check(by_bob, request, "approve", "bob", signed_stack).actor == "bob"


async def test_signed_reject_cancel_and_batch(
    signed_stack: SignedStack, store: Store, tmp_path: Path
) -> None:
    rejected, canceled = pending(signed_stack), pending(signed_stack)
    ok(
        signed_stack.run(
            "reject",
            rejected,
            "--actor",
            "bob",
            "--reason",
            "no",
            *signed_stack.key("bob"),
            "--json",
        )
    )
    ok(signed_stack.run("cancel", canceled, "--actor", "dave", *signed_stack.key("dave"), "--json"))
    [reject] = (await sent_inputs(signed_stack.stack.address, rejected))["reject"]
    assert (
        check(reject, stored(store, rejected), "reject", "bob", signed_stack).envelope.comment
        == "no"
    )
    [cancel] = (await sent_inputs(signed_stack.stack.address, canceled))["cancel"]
    assert check(cancel, stored(store, canceled), "cancel", "dave", signed_stack).actor == "dave"

    items = tmp_path / "items.json"
    acct = uid("b")
    items.write_text(
        json.dumps([{"state_id": acct, "mutation": "counter.add", "payload": {"amount": 2}}])
    )
    batch_id = uid("batch")
    ok(
        signed_stack.run(
            "batch",
            str(items),
            "--actor",
            "alice",
            "--request-id",
            batch_id,
            *signed_stack.key("alice"),
            "--json",
        )
    )
    [start] = (await sent_inputs(signed_stack.stack.address, batch_id))["start"]
    assert (
        check(start, stored(store, batch_id), "submit", "alice", signed_stack).envelope.mutation
        == "batch"
    )


# -- --print-signal -----------------------------------------------------------------------


async def test_print_signal_prints_a_signed_input_that_counts_when_sent(
    signed_stack: SignedStack, store: Store
) -> None:
    request_id = pending(signed_stack)
    before = stored(store, request_id)
    printed = ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "alice",
            "--comment",
            "from the UI",
            "--print-signal",
            *signed_stack.key("alice"),
            "--json",
        )
    )
    assert (printed["workflow_id"], printed["signal"], printed["namespace"]) == (
        f"mutation-request:{request_id}",
        "approve_signal",
        "default",
    )
    data = printed["input"]
    assert set(data) == {"actor", "comment", "envelope", "signature"}
    assert (data["actor"], data["comment"]) == ("alice", "from the UI")
    assert check(data, before, "approve", "alice", signed_stack).envelope.comment == "from the UI"
    after = stored(store, request_id)  # nothing was sent
    assert (after.revision, after.approvals) == (before.revision, [])
    assert set(await sent_inputs(signed_stack.stack.address, request_id)) == {"start", "admission"}

    # What the Temporal UI's "Send a Signal" does with the pasted JSON: it counts.
    client = await Client.connect(
        signed_stack.stack.address, data_converter=pydantic_data_converter
    )
    await client.get_workflow_handle(printed["workflow_id"]).signal("approve_signal", data)

    def approved() -> list[str] | None:
        actors = [a.actor for a in stored(store, request_id).approvals]
        return actors or None

    assert poll(approved, timeout=30, what="the signalled approval") == ["alice"]


def test_print_signal_in_words(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    shown = signed_stack.run(
        "reject",
        request_id,
        "--actor",
        "bob",
        "--reason",
        "too high",
        "--print-signal",
        *signed_stack.key("bob"),
    )
    assert shown.code == 0, shown
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Workflow: mutation-request:{request_id} (namespace default)"
    assert lines[1] == "Signal:   reject_signal"
    data = json.loads(lines[3])
    assert (data["actor"], data["reason"]) == ("bob", "too high")
    assert check(data, stored(store, request_id), "reject", "bob", signed_stack).actor == "bob"
    assert lines[6].startswith(
        f"temporal workflow signal --namespace default --workflow-id mutation-request:{request_id}"
        " --name reject_signal --input '{"
    )
    assert stored(store, request_id).status.value == "pending"


# -- which key, and when ------------------------------------------------------------------


@pytest.fixture
def home(signed_stack: SignedStack, tmp_path: Path) -> Path:
    """A home whose default key, ~/.ssh/id_ed25519, is alice's."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    for suffix in ("", ".pub"):
        shutil.copy(f"{signed_stack.keys['alice'].private}{suffix}", ssh / f"id_ed25519{suffix}")
    return tmp_path / "home"


async def test_submit_signs_only_when_asked(
    signed_stack: SignedStack, store: Store, home: Path
) -> None:
    acct = uid("acct")
    base = ("submit", acct, "counter.add", "--payload", '{"amount": 1}', "--actor", "alice")
    env = {"HOME": str(home)}
    plain, asked = uid("plain"), uid("asked")
    # Without --key, --sign or MUTATOR_SIGNING_KEY a submit is unsigned, default key or not:
    # this signed worker rejects it.
    refused = ok(signed_stack.run(*base, "--request-id", plain, "--json", env=env), code=1)
    assert refused["rejection"]["code"] == "signature_refused"
    ok(signed_stack.run(*base, "--request-id", asked, "--sign", "--json", env=env))
    [unsigned] = (await sent_inputs(signed_stack.stack.address, plain))["start"]
    assert (unsigned["envelope"], unsigned["signature"]) == (None, None)
    [start] = (await sent_inputs(signed_stack.stack.address, asked))["start"]
    assert check(start, stored(store, asked), "submit", "alice", signed_stack).actor == "alice"


async def test_no_sign_wins_over_the_environment(signed_stack: SignedStack) -> None:
    request_id = uid("nosign")
    env = {"MUTATOR_SIGNING_KEY": str(signed_stack.keys["alice"].private)}
    signed_stack.run(
        "submit",
        uid("acct"),
        "counter.add",
        "--payload",
        '{"amount": 1}',
        "--actor",
        "alice",
        "--request-id",
        request_id,
        "--no-sign",
        "--json",
        env=env,
    )
    [start] = (await sent_inputs(signed_stack.stack.address, request_id))["start"]
    assert start["signature"] is None


async def test_the_environment_names_the_key(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    env = {"MUTATOR_SIGNING_KEY": str(signed_stack.keys["bob"].private)}
    ok(signed_stack.run("approve", request_id, "--actor", "bob", "--json", env=env))
    [vote] = (await sent_inputs(signed_stack.stack.address, request_id))["approve"]
    assert check(vote, stored(store, request_id), "approve", "bob", signed_stack).actor == "bob"


# -- a key that cannot be used: exit 2, naming the file, and nothing sent -----------------


def key_problems(
    signed: SignedStack, where: Path
) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """name -> (options, environment, the message's expected text)."""
    missing = where / "nope" / "id_ed25519"
    folder = where / "a-folder"
    folder.mkdir()
    garbage = where / "garbage"
    garbage.write_text("this is not a key\n")
    rsa = make_key(where, "rsa", key_type="rsa").private
    carol = str(signed.keys["carol"].private)
    lone = where / "lone.pub"
    lone.write_text(signed.keys["bob"].public_line + "\n")
    return {
        "missing": (
            ["--key", str(missing)],
            {},
            f"signing key {missing}: cannot be read: does not exist",
        ),
        "unreadable": (
            ["--key", str(folder)],
            {},
            f"signing key {folder}: cannot be read: Is a directory",
        ),
        "garbage": (
            ["--key", str(garbage)],
            {},
            f"signing key {garbage}: not an OpenSSH private key",
        ),
        "rsa": (
            ["--key", str(rsa)],
            {},
            f"signing key {rsa}: a RSAPrivateKey key; Mutator signs with ed25519 keys",
        ),
        "passphrase without a terminal": (
            ["--key", carol],
            {},
            f"signing key {carol} is passphrase-protected and there is no terminal to ask for it: "
            f"load it into ssh-agent (ssh-add {carol}) and pass --ssh-agent, or set "
            "MUTATOR_SIGNING_KEY_PASSPHRASE",
        ),
        "wrong passphrase": (
            ["--key", carol],
            {"MUTATOR_SIGNING_KEY_PASSPHRASE": "not it"},
            f"signing key {carol}: wrong passphrase",
        ),
        "no ssh-agent": (
            ["--key", str(lone), "--ssh-agent"],
            {"SSH_AUTH_SOCK": ""},
            f"signing key {lone}: no ssh-agent to sign with (SSH_AUTH_SOCK is not set)",
        ),
        "missing default key": (
            ["--sign"],
            {"HOME": str(where / "empty-home")},
            f"signing key {where / 'empty-home' / '.ssh' / 'id_ed25519'}: cannot be read: "
            "does not exist",
        ),
    }


PROBLEMS = [
    "missing",
    "unreadable",
    "garbage",
    "rsa",
    "passphrase without a terminal",
    "wrong passphrase",
    "no ssh-agent",
    "missing default key",
]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_key_that_cannot_be_used_exits_2_and_sends_nothing(
    problem: str, signed_stack: SignedStack, store: Store, tmp_path: Path
) -> None:
    options, env, message = key_problems(signed_stack, tmp_path)[problem]
    request_id = pending(signed_stack)
    before = stored(store, request_id)
    new_id = uid("never")
    items = tmp_path / "items.json"
    items.write_text('[{"state_id": "x", "mutation": "counter.add", "payload": {"amount": 1}}]')
    commands = [
        (
            "submit",
            "acct-x",
            "counter.add",
            "--payload",
            '{"amount": 1}',
            "--actor",
            "alice",
            "--request-id",
            new_id,
        ),
        ("batch", str(items), "--actor", "alice", "--request-id", new_id),
        ("approve", request_id, "--actor", "alice"),
        ("approve", request_id, "--actor", "alice", "--print-signal"),
        ("reject", request_id, "--actor", "alice", "--reason", "no"),
        ("cancel", request_id, "--actor", "dave"),
    ]
    for command in commands:
        result = signed_stack.run(*command, *options, "--json", env=env)
        assert result.code == 2, result
        assert result.error.startswith(message), (message, result)
    human = signed_stack.run(*commands[2], *options, env=env)  # in words, on stderr
    assert human.code == 2, human
    assert message in " ".join(human.stderr.split()), human
    assert store.get_request(new_id) is None
    after = stored(store, request_id)
    assert (after.revision, after.status, after.approvals) == (before.revision, before.status, [])


# -- a passphrase asked on the terminal ---------------------------------------------------


def run_in_terminal(
    args: list[str], env: dict[str, str], cwd: Path, answer: str
) -> tuple[int, str]:
    """Run `mutator ARGS` with a terminal, typing ``answer`` at its passphrase prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its standard streams and controlling terminal are the pty
        os.chdir(cwd)
        os.execve(args[0], args, env)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal: it has exited
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Passphrase for" in seen:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code"), [(CAROL_PASSPHRASE, 0), ("not-carols", 2)])
def test_a_passphrase_is_asked_on_the_terminal(
    answer: str, code: int, signed_stack: SignedStack, store: Store
) -> None:
    request_id = pending(signed_stack)
    carol = signed_stack.keys["carol"].private
    args = [
        *mutator_command(),
        "approve",
        request_id,
        "--actor",
        "carol",
        "--key",
        str(carol),
        "--json",
    ]
    exit_code, shown = run_in_terminal(
        args, signed_stack.stack.env, signed_stack.stack.workdir, answer
    )
    assert f"Passphrase for {carol}: " in shown
    assert answer not in shown  # not echoed
    assert exit_code == code, shown
    approvals = [a.actor for a in stored(store, request_id).approvals]
    if code == 0:
        assert approvals == ["carol"]
    else:
        assert f"signing key {carol}: wrong passphrase" in shown
        assert approvals == []


# -- ssh-agent ----------------------------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private ssh-agent, stopped (by its pid) at the end."""
    socket = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        poll(lambda: True if socket.exists() else None, timeout=10, what="ssh-agent's socket")
        yield {"SSH_AUTH_SOCK": str(socket)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_signing_through_ssh_agent(
    signed_stack: SignedStack, store: Store, agent: dict[str, str], tmp_path: Path
) -> None:
    bob = signed_stack.keys["bob"]
    # Only the public half beside the agent: the private key never leaves the agent.
    public = tmp_path / "bob.pub"
    public.write_text(bob.public_line + "\n")
    request_id = pending(signed_stack)
    refused = signed_stack.run(
        "approve", request_id, "--actor", "bob", "--key", str(public), "--json", env=agent
    )
    assert refused.code == 2, refused
    assert refused.error.startswith(
        f"signing key {public}: the ssh-agent at {agent['SSH_AUTH_SOCK']} does not hold it "
        f"({bob.fingerprint()}): add it with ssh-add {tmp_path / 'bob'}"
    )
    added = await asyncio.to_thread(
        subprocess.run, ["ssh-add", str(bob.private)], env={**os.environ, **agent}, check=False
    )
    assert added.returncode == 0
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "bob", "--key", str(public), "--json", env=agent
        )
    )
    [vote] = (await sent_inputs(signed_stack.stack.address, request_id))["approve"]
    assert check(vote, stored(store, request_id), "approve", "bob", signed_stack).actor == "bob"


def test_the_signing_options_are_on_the_commands_that_act() -> None:
    from typer.testing import CliRunner

    from mutator.cli.main import cli

    for command in SIGNING_COMMANDS:
        shown = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        for flag in ("--key", "--ssh-agent", "--sign", "--no-sign"):
            assert flag in shown.stdout, (command, flag)
        assert "MUTATOR_SIGNING_KEY" in shown.stdout
        assert "MUTATOR_SIGN" in shown.stdout
    for command in ("show", "wait", "list", "audit", "locks"):
        shown = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"})
        assert "--key " not in shown.stdout, command
        assert "--sign" not in shown.stdout, command


# -- the worker's checks (signed mode): refusals reach the user with exit 1 ---------------


def test_a_refused_signature_exits_1_and_changes_nothing(
    signed_stack: SignedStack, store: Store
) -> None:
    request_id = pending(signed_stack)
    before = stored(store, request_id)
    bob, stranger = signed_stack.keys["bob"], signed_stack.keys["stranger"]
    cases = [
        (
            ("--actor", "alice", *signed_stack.key("bob")),
            f"signature refused (key_of_another_user): signing key {bob.fingerprint()} belongs "
            "to 'bob', not to actor 'alice'",
        ),
        (
            ("--actor", "alice", *signed_stack.key("stranger")),
            f"signature refused (unknown_key): signing key {stranger.fingerprint()} belongs to "
            "no user of the directory",
        ),
        (
            ("--actor", "alice", "--no-sign"),
            "signature refused (signature_required): identity is signed: approve needs a "
            "signature, e.g. `mutator approve ... --key PATH`",
        ),
    ]
    for args, message in cases:
        result = signed_stack.run("approve", request_id, *args, "--json")
        assert result.code == 1, result
        assert message in result.error, (message, result)
    after = stored(store, request_id)
    assert (after.revision, after.status, after.approvals) == (before.revision, before.status, [])


def test_an_unsigned_submit_is_rejected_in_signed_mode(signed_stack: SignedStack) -> None:
    refused = signed_stack.run(
        "submit",
        uid("acct"),
        "counter.add",
        "--payload",
        '{"amount": 1}',
        "--actor",
        "alice",
        "--no-sign",
        "--json",
    )
    body = ok(refused, code=1)
    assert body["status"] == "rejected"
    assert body["rejection"]["code"] == "signature_refused"
    assert "identity is signed: submit needs a signature" in body["rejection"]["reason"]
    assert body["resulting_version"] is None


async def test_a_vote_on_a_signed_request_signs_with_the_default_key(
    signed_stack: SignedStack, store: Store, home: Path, tmp_path: Path
) -> None:
    request_id = pending(signed_stack)
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", "--json", env={"HOME": str(home)}
        )
    )
    [vote] = (await sent_inputs(signed_stack.stack.address, request_id))["approve"]
    assert check(vote, stored(store, request_id), "approve", "alice", signed_stack).actor == "alice"
    empty = tmp_path / "empty-home"
    empty.mkdir()
    missing = signed_stack.run(
        "approve", request_id, "--actor", "bob", "--json", env={"HOME": str(empty)}
    )
    assert missing.code == 2, missing
    assert missing.error == (
        f"request {request_id} was submitted signed, so a vote on it must be signed too, and "
        f"there is no key at {empty / '.ssh' / 'id_ed25519'}: give --key PATH (or set "
        "MUTATOR_SIGNING_KEY)"
    )
    assert [a.actor for a in stored(store, request_id).approvals] == ["alice"]


async def test_reapproval_needs_signatures_against_the_new_base_version(
    signed_stack: SignedStack, store: Store
) -> None:
    acct = uid("acct")
    add = ("submit", acct, "counter.add", "--payload", '{"amount": 1}', "--actor", "alice")
    assert (
        ok(signed_stack.run(*add, *signed_stack.key("alice"), "--json"))["resulting_version"] == 1
    )
    request_id = uid("lim")
    ok(
        signed_stack.run(
            "submit",
            acct,
            "limits.set",
            "--payload",
            '{"name": "daily", "value": 9}',
            "--actor",
            "dave",
            "--request-id",
            request_id,
            *signed_stack.key("dave"),
            "--json",
        )
    )
    carol = {"MUTATOR_SIGNING_KEY_PASSPHRASE": CAROL_PASSPHRASE}
    early = ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "carol",
            "--print-signal",
            *signed_stack.key("carol"),
            "--json",
            env=carol,
        )
    )["input"]
    assert early["envelope"]["base_version"] == 1
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", *signed_stack.key("alice"), "--json"
        )
    )
    # The state moves on before the quorum: the approvals are cleared and the base moves to 2.
    assert (
        ok(signed_stack.run(*add, *signed_stack.key("alice"), "--json"))["resulting_version"] == 2
    )
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "bob", *signed_stack.key("bob"), "--json"
        )
    )

    def reapproving() -> MutationRequest | None:
        found = stored(store, request_id)
        if (found.status.value, found.base_version, found.approvals) == ("pending", 2, []):
            return found
        return None

    again = poll(reapproving, timeout=30, what="the request pending again at base version 2")
    # carol's signature of the request at base version 1 counts no more: as an update (what
    # the CLI sends) it is refused with exit code 1 and changes nothing ...
    client = await Client.connect(
        signed_stack.stack.address, data_converter=pydantic_data_converter
    )
    stale = (
        "signature refused (envelope_mismatch): envelope base_version is 1 but the request's is 2"
    )
    with pytest.raises(MutatorRefused, match=re.escape(stale)) as refused:
        await send_update(
            client, StoreReader(store), request_id, "approve", ApproveInput(**early), None
        )
    assert refused.value.exit_code == 1
    assert stored(store, request_id).revision == again.revision
    # ... and pasted as the UI's signal, it is recorded as a refused attempt that counts for
    # nothing.
    await client.get_workflow_handle(f"mutation-request:{request_id}").signal(
        "approve_signal", early
    )

    def refusal() -> str | None:
        found = stored(store, request_id)
        reasons = [d.reason for d in found.decisions if d.code == "refused_attempt"]
        return reasons[-1] if reasons and found.revision > again.revision else None

    assert stale in poll(refusal, timeout=30, what="the refused signal")
    assert stored(store, request_id).approvals == []
    # New signatures, made against base version 2 by the CLI, execute it.
    ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "carol",
            *signed_stack.key("carol"),
            "--json",
            env=carol,
        )
    )
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", *signed_stack.key("alice"), "--json"
        )
    )
    done = ok(signed_stack.run("wait", request_id, "--timeout", "30", "--json"))
    assert (done["status"], done["base_version"], done["resulting_version"]) == ("executed", 2, 3)
