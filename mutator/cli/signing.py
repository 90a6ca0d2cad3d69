"""Which key a command signs with, and the votes that may sign (`--key`, `--print-signal`).

The rules (docs/cli.md, "Signing"):

- `--key PATH` (or `MUTATOR_SIGNING_KEY`), `--ssh-agent` or `--sign`: every submit, batch, vote
  and cancel is signed, with PATH or else `~/.ssh/id_ed25519`. A key that cannot be used is an
  error (exit 2, naming the file): never a silent fallback to an unsigned message.
- None of them: a vote or cancel on a request whose submission was signed (a worker in signed
  mode admits no other) is signed with `~/.ssh/id_ed25519`; anything else is sent unsigned, as
  a `claimed`-mode worker takes it. So a key in `~/.ssh` is never sent to a development
  worker that would refuse it as unknown.
- `--no-sign` (or `MUTATOR_SIGN=0`): never sign.

A passphrase-protected key is asked for on the terminal; without one, the passphrase comes
from `MUTATOR_SIGNING_KEY_PASSPHRASE`, else the command exits 2 pointing at ssh-agent.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mutator.cli.connection import Connection
from mutator.errors import MutatorError, MutatorInputError

if TYPE_CHECKING:
    from mutator.client import MutatorClient
    from mutator.client_checks import CheckMessage
    from mutator.client_signing import VoteAction, VoteMessage
    from mutator.identity.signing import Signer
    from mutator.models import MutationRequest

DEFAULT_KEY = "~/.ssh/id_ed25519"
PASSPHRASE_ENV = "MUTATOR_SIGNING_KEY_PASSPHRASE"


def _agent_signer(path: Path) -> Signer:
    """Sign through ssh-agent with the key whose public half is ``path`` (or ``path``.pub)."""
    from mutator.identity.signing import SigningKeyError, SshKeygenSigner

    public = path if path.suffix == ".pub" else Path(f"{path}.pub")
    private = public.with_suffix("")
    socket = os.environ.get("SSH_AUTH_SOCK")
    if not socket:
        raise SigningKeyError(
            f"signing key {path}: no ssh-agent to sign with (SSH_AUTH_SOCK is not set): start "
            f"one (eval $(ssh-agent)) and add the key (ssh-add {private})"
        )
    signer = SshKeygenSigner(public, interactive=False)
    try:
        listed = subprocess.run(
            ["ssh-add", "-L"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SigningKeyError(f"signing key {path}: cannot ask the ssh-agent: {exc}") from None
    if listed.returncode not in (0, 1):  # 1: the agent holds no key
        raise SigningKeyError(
            f"signing key {path}: cannot reach the ssh-agent at {socket}: "
            f"{listed.stderr.strip() or listed.stdout.strip()}"
        )
    held = {" ".join(line.split()[:2]) for line in listed.stdout.splitlines()}
    if signer.public_key.openssh not in held:
        raise SigningKeyError(
            f"signing key {path}: the ssh-agent at {socket} does not hold it "
            f"({signer.public_key.fingerprint}): add it with ssh-add {private}"
        )
    return signer


def load_signer(path: str | Path, *, agent: bool = False) -> Signer:
    """The signer of the key file ``path``: in-process, or through ssh-agent.

    Args:
        path: The private key (``~`` expanded); a ``.pub`` file signs through ssh-agent.
        agent: Sign through ssh-agent (with the ``.pub`` beside ``path``).

    Raises:
        SigningKeyError: The key is missing, unreadable, not an OpenSSH ed25519 private key,
            passphrase-protected with no terminal and no MUTATOR_SIGNING_KEY_PASSPHRASE, the
            passphrase is wrong, or the ssh-agent is missing or does not hold the key. The
            message names the file.
    """
    from mutator.identity.signing import KeyFileSigner, SigningKeyError, is_encrypted

    path = Path(path).expanduser()
    if agent or path.suffix == ".pub":
        return _agent_signer(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = "does not exist" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise SigningKeyError(f"signing key {path}: cannot be read: {problem}") from None
    encrypted = is_encrypted(data)
    passphrase = os.environ.get(PASSPHRASE_ENV) if encrypted else None
    interactive = sys.stdin.isatty()
    if encrypted and passphrase is None and not interactive:
        raise SigningKeyError(
            f"signing key {path} is passphrase-protected and there is no terminal to ask for "
            f"it: load it into ssh-agent (ssh-add {path}) and pass --ssh-agent, or set "
            f"{PASSPHRASE_ENV}"
        )
    return KeyFileSigner(path, passphrase=passphrase, interactive=interactive)


def explicit_signer(conn: Connection) -> Signer | None:
    """The signer that `--key`, `MUTATOR_SIGNING_KEY`, `--ssh-agent` or `--sign` asks for.

    Raises:
        typer.Exit: 2, when that key cannot be used (the message names the file).
    """
    if conn.sign is False:
        return None
    if conn.key is None and not conn.ssh_agent and conn.sign is not True:
        return None
    try:
        return load_signer(conn.key or DEFAULT_KEY, agent=conn.ssh_agent)
    except MutatorError as exc:
        raise conn.fail(exc) from None


def _signed_request_signer(conn: Connection, request: MutationRequest) -> Signer | None:
    """The default key, for a vote on a request whose submission was signed."""
    from mutator.client_signing import submission_was_signed

    if conn.sign is False or request.status.is_terminal or not submission_was_signed(request):
        return None
    path = Path(DEFAULT_KEY).expanduser()
    if not path.exists():
        raise MutatorInputError(
            f"request {request.request_id} was submitted signed, so a vote on it must be "
            f"signed too, and there is no key at {path}: give --key PATH (or set "
            "MUTATOR_SIGNING_KEY)"
        )
    return load_signer(path)


async def sign_as_the_request_asks(
    conn: Connection, client: MutatorClient, request_id: str
) -> None:
    """Without ``--key``: sign with the default key when the request's submission was signed.

    ``--no-sign`` wins; the request is read as its workflow holds it now.
    """
    from mutator.client_signing import request_as_it_stands

    if conn.sign is False:
        return
    stored = await client.get(request_id)
    current = await request_as_it_stands(client.temporal, stored)
    client.signer = _signed_request_signer(conn, current)


def vote(
    conn: Connection,
    action: VoteAction,
    request_id: str,
    *,
    actor: str,
    comment: str,
    update_id: str | None = None,
    print_signal: bool = False,
) -> None:
    """Run `approve`, `reject`, `cancel` or `override`: send it, or with ``print_signal`` print it.

    Raises:
        typer.Exit: With the command's exit code when it fails.
    """
    signer = explicit_signer(conn)

    async def act(client: MutatorClient) -> MutationRequest | VoteMessage:
        from mutator.client_signing import check_vote
        from mutator.limits import check_optional_id

        check_vote(action, actor, comment)
        check_optional_id(update_id, "update_id")
        if signer is None:
            await sign_as_the_request_asks(conn, client, request_id)
        if print_signal:
            return await client.prepare_vote(request_id, action, actor=actor, comment=comment)
        if action == "approve":
            return await client.approve(
                request_id, actor=actor, comment=comment, update_id=update_id
            )
        if action == "reject":
            return await client.reject(request_id, actor=actor, reason=comment)
        if action == "override":
            return await client.override(
                request_id, actor=actor, reason=comment, update_id=update_id
            )
        return await client.cancel(request_id, actor=actor, reason=comment)

    done = conn.client(act, signer=signer)
    from mutator.client_signing import VoteMessage

    if isinstance(done, VoteMessage):
        show_signal(done, conn)
    else:
        conn.print_request(done)


def show_signal(message: VoteMessage | CheckMessage, conn: Connection) -> None:
    """Print a vote or a check report as a signal to send from the UI ("Send a Signal") or CLI."""
    data = message.input_json()
    if conn.as_json:
        body: dict[str, Any] = {
            "workflow_id": message.workflow_id,
            "namespace": conn.namespace,
            "signal": message.signal,
            "input": data,
        }
        print(json.dumps(body, indent=2))
        return
    line = json.dumps(data)
    signed = "signature" in data
    lines = [
        f"Workflow: {message.workflow_id} (namespace {conn.namespace})",
        f"Signal:   {message.signal}",
        "Data (the signal's input, one JSON object):",
        line,
        "",
        "In the Temporal UI: the workflow's page, More Actions > Send a Signal. Or run:",
        f"temporal workflow signal --namespace {shlex.quote(conn.namespace)} "
        f"--workflow-id {shlex.quote(message.workflow_id)} --name {message.signal} "
        f"--input {shlex.quote(line)}",
    ]
    if signed:
        lines.append(
            "Send it within the worker's signature tolerance (5 minutes by default) of now; "
            "it counts once."
        )
    else:
        lines.append("Unsigned: only a worker in claimed identity mode counts it.")
    typer.echo("\n".join(lines))
