"""Real OpenSSH keys for the identity tests, made by ssh-keygen."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SshKey:
    private: Path
    public_line: str  # "ssh-ed25519 AAAA... comment", as the .pub file holds it

    @property
    def public(self) -> Path:
        return Path(f"{self.private}.pub")

    def fingerprint(self) -> str:
        """SHA256:... as `ssh-keygen -l` prints it."""
        out = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(self.public)], capture_output=True, text=True, check=True
        ).stdout
        return out.split()[1]


def make_key(
    directory: Path, name: str, *, passphrase: str = "", key_type: str = "ed25519"
) -> SshKey:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / name
    command = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", f"{name}@test"]
    if key_type == "rsa":
        command += ["-b", "2048"]
    subprocess.run([*command, "-f", str(private)], check=True, stdin=subprocess.DEVNULL)
    return SshKey(private, Path(f"{private}.pub").read_text().strip())


def ssh_keygen_sign(key: Path, message: bytes, namespace: str = "mutator") -> str:
    done = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(key)],
        input=message,
        capture_output=True,
        check=True,
        start_new_session=True,
    )
    return done.stdout.decode()


def ssh_keygen_verify(
    tmp: Path, principal: str, public_line: str, message: bytes, signature: str
) -> subprocess.CompletedProcess[str]:
    """`ssh-keygen -Y verify` of ``signature`` over ``message`` by ``principal``'s key."""
    allowed = tmp / "allowed_signers"
    allowed.write_text(f"{principal} {public_line}\n")
    sig = tmp / "message.sig"
    sig.write_text(signature)
    return subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            principal,
            "-n",
            "mutator",
            "-s",
            str(sig),
        ],
        input=message.decode(),
        capture_output=True,
        text=True,
        check=False,
    )
