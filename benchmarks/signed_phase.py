"""The distinct-states phase of ``requests_throughput.py`` again, in ``signed`` identity mode.

A second Mutator app, the same mutation and policy with ``identity="signed"`` and a directory
holding the bench requester's ed25519 key (made for the run), runs on its own task queue in
the same process; a ``MutatorClient(signer=...)`` signs every submit, and the worker verifies
each one before it evaluates the request. Both apps' workers are up during every phase, so
the signed and unsigned rates are measured under the same conditions, minutes apart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client

from mutator import MutationApp, MutatorClient
from mutator.identity.signing import KeyFileSigner
from mutator.store import Store

try:  # python -m benchmarks.requests_throughput
    from benchmarks.figures import ratio
    from benchmarks.phases import Phase
except ImportError:  # python benchmarks/requests_throughput.py
    from figures import ratio  # type: ignore[import-not-found,no-redef]
    from phases import Phase  # type: ignore[import-not-found,no-redef]

SIGNATURE = "ed25519, SSHSIG over the RFC 8785 envelope (KeyFileSigner, in-process)"


def make_key(directory: Path, name: str) -> tuple[Path, str]:
    """A fresh unencrypted OpenSSH ed25519 key pair in ``directory``: (private file, .pub line)."""
    key = Ed25519PrivateKey.generate()
    private = directory / name
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    os.chmod(private, 0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {name}@bench"
    Path(f"{private}.pub").write_text(line + "\n")
    return private, line


@dataclass
class Signed:
    """The signed side of the run: its task queue, its client and its workers."""

    task_queue: str
    client: MutatorClient
    workers: AbstractAsyncContextManager[Any]


def signed_side(
    make_app: Callable[..., MutationApp],
    build_workers: Callable[[Client, Store, str, MutationApp], AbstractAsyncContextManager[Any]],
    temporal: Client,
    store: Store,
    key_directory: Path,
    actor: str,
) -> Signed:
    """A signed app whose directory holds ``actor``'s new key, its workers, a signing client.

    ``make_app(**settings)`` builds the benchmark's app with ``MutationApp`` settings;
    ``build_workers(client, store, task_queue, app)`` what ``mutator worker`` runs for it.
    """
    private, public_line = make_key(key_directory, actor)
    app = make_app(
        directory={actor: {"roles": [], "keys": [public_line]}},
        identity="signed",
    )
    task_queue = f"bench-signed-{uuid.uuid4()}"
    client = MutatorClient(temporal, store, task_queue=task_queue, signer=KeyFileSigner(private))
    return Signed(task_queue, client, build_workers(temporal, store, task_queue, app))


def signed_ratios(
    signed: Phase, unsigned: Phase, baseline: Phase, per_round: list[float]
) -> dict[str, Any]:
    """The signed figures beside the unsigned ones: rates over the same baseline, and CPU."""
    return {
        "mutator_signed_rate / baseline_rate": ratio(signed.rate, baseline.rate),
        "mutator_signed_rate / baseline_rate per round": per_round,
        # (signed / baseline) / (unsigned / baseline), the same baseline: target at least 0.9.
        "signed / unsigned (mutator_rate / baseline_rate)": ratio(signed.rate, unsigned.rate),
        "mutator_signed_python_cpu / mutator_python_cpu": ratio(
            signed.usage.python_cpu / signed.count, unsigned.usage.python_cpu / unsigned.count
        ),
        "mutator_signed_server_cpu / mutator_server_cpu": ratio(
            signed.usage.server_cpu / signed.count, unsigned.usage.server_cpu / unsigned.count
        ),
        # What signed / unsigned would be if both were purely CPU-bound (see the README).
        "signed / unsigned cpu_bound_estimate (mutator_cpu / mutator_signed_cpu)": ratio(
            (unsigned.usage.python_cpu + unsigned.usage.server_cpu) / unsigned.count,
            (signed.usage.python_cpu + signed.usage.server_cpu) / signed.count,
        ),
    }
