"""Signing keys from the command line: each unusable key exits 2 naming the file and sends
nothing; a passphrase asked on a terminal; signing through ssh-agent; which commands sign.
"""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mutator.store import Store
from tests.helpers import cli_signing
from tests.helpers.cli_signing import (
    CAROL_PASSPHRASE,
    SignedStack,
    check,
    pending,
    sent_inputs,
    stored,
)
from tests.helpers.cli_stack import mutator_command, poll
from tests.helpers.cli_world import ok, uid
from tests.mutator.identity.keys import make_key

pytestmark = pytest.mark.slow

signed_stack = cli_signing.signed_stack
store = cli_signing.signed_store

SIGNING_COMMANDS = ("submit", "batch", "approve", "reject", "cancel")


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
