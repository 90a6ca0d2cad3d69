"""Signers: produce SSHSIG signatures (the format of ``ssh-keygen -Y sign``) of envelopes.

``KeyFileSigner`` signs in-process with an OpenSSH ed25519 private key file (``cryptography``
does the signing, ``sshsig`` the SSHSIG framing). ``SshKeygenSigner`` runs
``ssh-keygen -Y sign``, which also signs through a running ssh-agent.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sshsig.binary_io import SshWriter
from sshsig.sshsig import SshsigSignature, SshsigWrapper, ssh_enarmor_sshsig

from mutator.errors import MutatorInputError
from mutator.identity.directory import UserKey, parse_public_key
from mutator.identity.envelope import SIGNATURE_NAMESPACE, Envelope

SIGNING_KEY_ENV = "MUTATOR_SIGNING_KEY"
DEFAULT_KEY_PATH = "~/.ssh/id_ed25519"


class SigningKeyError(MutatorInputError):
    """The signing key cannot be used (unreadable, passphrase-protected without a TTY, ...)."""


class Signer(Protocol):
    """Signs bytes as an armored SSHSIG signature in the ``mutator`` namespace."""

    @property
    def public_key(self) -> UserKey:
        """The public key whose signatures this signer makes."""
        ...

    def sign(self, message: bytes) -> str:
        """The armored SSHSIG signature (``-----BEGIN SSH SIGNATURE-----``) of ``message``."""
        ...


def sign_envelope(signer: Signer, envelope: Envelope) -> str:
    """The armored SSHSIG signature of ``envelope``'s canonical bytes."""
    return signer.sign(envelope.signed_bytes())


def default_key_path() -> Path:
    """``$MUTATOR_SIGNING_KEY``, else ``~/.ssh/id_ed25519``."""
    return Path(os.environ.get(SIGNING_KEY_ENV) or DEFAULT_KEY_PATH).expanduser()


def _load_private_key(path: Path, data: bytes, passphrase: bytes | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_ssh_private_key(data, password=passphrase)
    except ValueError as exc:
        problem = "wrong passphrase" if passphrase else f"not an OpenSSH private key ({exc})"
        raise SigningKeyError(f"signing key {path}: {problem}") from None
    except TypeError as exc:
        raise SigningKeyError(f"signing key {path}: {exc}") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and others
        raise SigningKeyError(f"signing key {path}: cannot be loaded: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"signing key {path}: a {type(key).__name__} key; Mutator signs with ed25519 keys "
            "(ssh-keygen -t ed25519)"
        )
    return key


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` is an OpenSSH private key that needs a passphrase."""
    try:
        serialization.load_ssh_private_key(data, password=None)
    except TypeError:
        return True  # "Password was not given but private key is encrypted"
    except Exception:
        return False  # reported by _load_private_key with its own message
    return False


class KeyFileSigner:
    """Signs with an OpenSSH ed25519 private key file, in-process.

    A passphrase-protected key needs ``passphrase``; without one it is asked on the terminal,
    and with no terminal the signer refuses, naming the file.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        passphrase: str | bytes | None = None,
        interactive: bool | None = None,
    ) -> None:
        """Load the key now, so a bad key fails before anything is sent.

        Args:
            path: The private key file (default: ``default_key_path()``).
            passphrase: The key's passphrase, when it has one.
            interactive: Whether a passphrase may be asked on the terminal (default: when
                standard input is a TTY).

        Raises:
            SigningKeyError: The file is unreadable, not an ed25519 OpenSSH private key, needs
                a passphrase that cannot be asked, or the passphrase is wrong.
        """
        self.path = Path(path).expanduser() if path is not None else default_key_path()
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"signing key {self.path}: cannot be read: {exc}") from None
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        if secret is None and is_encrypted(data):
            if not (sys.stdin.isatty() if interactive is None else interactive):
                raise SigningKeyError(
                    f"signing key {self.path} is passphrase-protected and there is no terminal "
                    "to ask for it: load it into ssh-agent (ssh-add) and sign with ssh-keygen, "
                    "or pass the passphrase"
                )
            secret = getpass.getpass(f"Passphrase for {self.path}: ").encode()
        self._key = _load_private_key(self.path, data, secret)
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        self._public = parse_public_key(raw.decode())

    @property
    def public_key(self) -> UserKey:
        """The key's public half."""
        return self._public

    def sign(self, message: bytes) -> str:
        """The armored SSHSIG signature of ``message`` (namespace ``mutator``, SHA-512)."""
        to_sign = SshsigWrapper(
            namespace=SIGNATURE_NAMESPACE.encode(),
            hash_algo=b"sha512",
            hash=hashlib.sha512(message).digest(),
        ).to_bytes()
        inner = SshWriter(io.BytesIO())
        inner.write_string(b"ssh-ed25519")
        inner.write_string(self._key.sign(to_sign))
        outer = SshWriter(io.BytesIO())
        outer.write(b"SSHSIG")
        outer.write_uint32(SshsigSignature.VERSION)
        outer.write_string(self._public_blob())
        outer.write_string(SIGNATURE_NAMESPACE.encode())
        outer.write_string(b"")  # reserved
        outer.write_string(b"sha512")
        outer.write_string(inner.output_fh.getvalue())
        return ssh_enarmor_sshsig(outer.output_fh.getvalue())

    def _public_blob(self) -> bytes:
        return base64.b64decode(self._public.openssh.split()[1])


class SshKeygenSigner:
    """Signs by running ``ssh-keygen -Y sign -n mutator -f PATH``.

    With ``PATH`` a public key (``.pub``), ssh-keygen signs through the running ssh-agent
    (``SSH_AUTH_SOCK``); with a private key, it reads the file (and prompts on the terminal for
    a passphrase, which fails without one).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        ssh_keygen: str = "ssh-keygen",
        interactive: bool | None = None,
    ) -> None:
        """Read the key's public half now.

        Args:
            path: The key file (private, or ``.pub`` to sign through ssh-agent); default
                ``default_key_path()``.
            ssh_keygen: The ssh-keygen executable.
            interactive: Whether ssh-keygen may prompt on the terminal for a passphrase
                (default: when standard input is a TTY); otherwise it runs detached from the
                terminal and a passphrase-protected key file fails with a clear error.

        Raises:
            SigningKeyError: The key or its ``.pub`` cannot be read.
        """
        self.path = Path(path).expanduser() if path is not None else default_key_path()
        self.ssh_keygen = ssh_keygen
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        public = self.path if self.path.suffix == ".pub" else Path(f"{self.path}.pub")
        try:
            self._public = parse_public_key(public.read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"signing key {self.path}: public key {public}: {exc}") from None

    @property
    def public_key(self) -> UserKey:
        """The key's public half (from the ``.pub`` file)."""
        return self._public

    def sign(self, message: bytes) -> str:
        """Run ``ssh-keygen -Y sign`` on ``message``; its armored signature.

        Raises:
            SigningKeyError: ssh-keygen is missing or failed; its message is included.
        """
        command = [self.ssh_keygen, "-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f", str(self.path)]
        try:
            done = subprocess.run(
                command,
                input=message,
                capture_output=True,
                check=False,
                timeout=60,
                start_new_session=not self.interactive,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SigningKeyError(f"signing key {self.path}: {self.ssh_keygen}: {exc}") from None
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            hint = "" if self.interactive else " (no terminal: a passphrase cannot be asked)"
            raise SigningKeyError(
                f"signing key {self.path}: ssh-keygen -Y sign failed{hint}: {detail}"
            )
        return done.stdout.decode()
