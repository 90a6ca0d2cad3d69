"""Signers, cross-checked with the real ssh-keygen -Y sign / -Y verify and ssh-agent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mutator.identity.directory import Directory, parse_directory
from mutator.identity.envelope import make_envelope
from mutator.identity.signing import (
    KeyFileSigner,
    SigningKeyError,
    SshKeygenSigner,
    default_key_path,
    sign_envelope,
)
from mutator.identity.verify import Expected, verify
from tests.mutator.identity.keys import SshKey, make_key, ssh_keygen_sign, ssh_keygen_verify

NOW = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
ENVELOPE = make_envelope(
    action="approve",
    request_id="lim-1",
    actor="alice",
    state_id="acct-1",
    mutation="limits.set",
    payload={"name": "daily", "value": 500},
    base_version=3,
    now=NOW,
)
EXPECTED = Expected("approve", "lim-1", "acct-1", "limits.set", ENVELOPE.payload_sha256, 3)


def directory_of(key: SshKey, user: str = "alice") -> Directory:
    return parse_directory({user: {"roles": ["sre"], "keys": [key.public_line]}})


def test_a_key_file_signature_verifies_with_ssh_keygen(tmp_path: Path, alice_key: SshKey) -> None:
    signer = KeyFileSigner(alice_key.private)
    assert signer.public_key.fingerprint == alice_key.fingerprint()
    signature = sign_envelope(signer, ENVELOPE)
    done = ssh_keygen_verify(
        tmp_path, "alice", alice_key.public_line, ENVELOPE.signed_bytes(), signature
    )
    assert done.returncode == 0, done
    assert f'Good "mutator" signature for alice with ED25519 key {alice_key.fingerprint()}' in (
        done.stdout
    )


def test_ssh_keygen_refuses_it_over_other_bytes(tmp_path: Path, alice_key: SshKey) -> None:
    signature = KeyFileSigner(alice_key.private).sign(ENVELOPE.signed_bytes())
    other = ENVELOPE.model_copy(update={"base_version": 4}).signed_bytes()
    done = ssh_keygen_verify(tmp_path, "alice", alice_key.public_line, other, signature)
    assert done.returncode != 0


def test_an_ssh_keygen_signature_verifies_with_ours(alice_key: SshKey) -> None:
    signature = ssh_keygen_sign(alice_key.private, ENVELOPE.signed_bytes())
    verified = verify(
        ENVELOPE, signature, directory_of(alice_key), expected=EXPECTED, now=NOW, used_nonces=()
    )
    assert verified.actor == "alice"
    assert verified.fingerprint == alice_key.fingerprint()


def test_the_ssh_keygen_signer(alice_key: SshKey) -> None:
    signer = SshKeygenSigner(alice_key.private)
    assert signer.public_key.fingerprint == alice_key.fingerprint()
    signature = sign_envelope(signer, ENVELOPE)
    assert verify(ENVELOPE, signature, directory_of(alice_key), expected=EXPECTED, now=NOW)


def test_a_passphrase_protected_key_with_its_passphrase(locked_key: SshKey) -> None:
    signature = KeyFileSigner(locked_key.private, passphrase="correct horse").sign(
        ENVELOPE.signed_bytes()
    )
    verified = verify(ENVELOPE, signature, directory_of(locked_key), expected=EXPECTED, now=NOW)
    assert verified.fingerprint == locked_key.fingerprint()


def test_a_passphrase_protected_key_without_a_terminal(locked_key: SshKey) -> None:
    # pytest's standard input is not a TTY: the default is not to prompt.
    with pytest.raises(SigningKeyError) as caught:
        KeyFileSigner(locked_key.private)
    assert str(caught.value).startswith(
        f"signing key {locked_key.private} is passphrase-protected and there is no terminal"
    )
    assert caught.value.exit_code == 2


def test_a_wrong_passphrase(locked_key: SshKey) -> None:
    with pytest.raises(SigningKeyError, match=r"signing key .*locked: wrong passphrase"):
        KeyFileSigner(locked_key.private, passphrase="wrong")


def test_ssh_keygen_with_a_protected_key_and_no_terminal(locked_key: SshKey) -> None:
    signer = SshKeygenSigner(locked_key.private, interactive=False)
    with pytest.raises(SigningKeyError) as caught:
        signer.sign(b"x")
    message = str(caught.value)
    assert message.startswith(f"signing key {locked_key.private}: ssh-keygen -Y sign failed")
    assert "no terminal" in message


def test_unreadable_and_wrong_key_files(tmp_path: Path, alice_key: SshKey) -> None:
    with pytest.raises(SigningKeyError, match=r"signing key .*missing: cannot be read"):
        KeyFileSigner(tmp_path / "missing")
    with pytest.raises(SigningKeyError, match=r"not an OpenSSH private key"):
        KeyFileSigner(alice_key.public)
    rsa = make_key(tmp_path, "rsa", key_type="rsa")
    with pytest.raises(SigningKeyError, match=r"RSAPrivateKey key; Mutator signs with ed25519"):
        KeyFileSigner(rsa.private)
    with pytest.raises(SigningKeyError, match=r"public key .*missing\.pub"):
        SshKeygenSigner(tmp_path / "missing")


def test_a_missing_ssh_keygen(alice_key: SshKey) -> None:
    signer = SshKeygenSigner(alice_key.private, ssh_keygen="/nonexistent/ssh-keygen")
    with pytest.raises(SigningKeyError, match="/nonexistent/ssh-keygen"):
        signer.sign(b"x")


def test_the_default_key_path(monkeypatch: pytest.MonkeyPatch, alice_key: SshKey) -> None:
    monkeypatch.delenv("MUTATOR_SIGNING_KEY", raising=False)
    assert default_key_path() == Path("~/.ssh/id_ed25519").expanduser()
    monkeypatch.setenv("MUTATOR_SIGNING_KEY", str(alice_key.private))
    assert default_key_path() == alice_key.private
    assert KeyFileSigner().public_key.fingerprint == alice_key.fingerprint()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real ssh-agent on a socket of its own, stopped at the end."""
    socket = tmp_path / "agent.sock"
    proc = subprocess.Popen(
        [shutil.which("ssh-agent") or "ssh-agent", "-D", "-a", str(socket)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if socket.exists():
                break
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"ssh-agent exited {proc.returncode}")
        yield {**os.environ, "SSH_AUTH_SOCK": str(socket)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_signing_through_ssh_agent(
    tmp_path: Path, agent: dict[str, str], locked_key: SshKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent holds the protected key (unlocked once, as `ssh-add` would after a prompt).
    unlocked = tmp_path / "unlocked"
    shutil.copy(locked_key.private, unlocked)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "correct horse", "-N", "", "-f", str(unlocked)],
        check=True,
    )
    subprocess.run(["ssh-add", "-q", str(unlocked)], env=agent, check=True)
    unlocked.unlink()
    monkeypatch.setenv("SSH_AUTH_SOCK", agent["SSH_AUTH_SOCK"])
    signer = SshKeygenSigner(locked_key.public, interactive=False)  # the .pub: use the agent
    signature = sign_envelope(signer, ENVELOPE)
    verified = verify(ENVELOPE, signature, directory_of(locked_key), expected=EXPECTED, now=NOW)
    assert verified.fingerprint == locked_key.fingerprint()
