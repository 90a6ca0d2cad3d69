"""`mutator override REQUEST_ID --actor NAME --reason TEXT`: override a policy's soft deny.

Signed like a vote (docs/cli.md, "Signing"): `--key`/`--ssh-agent`, or the default key when
the request's submission was signed. `--print-signal` prints the same override as an
`override_signal` to send with `temporal workflow signal` instead.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mutator.cli.common import Actor, RequestId
from mutator.cli.connection import SIGNED_OPTIONS, Connection, connected_command
from mutator.cli.signing import vote

Reason = Annotated[
    str, typer.Option("--reason", help="Why the soft deny is overridden (required, recorded).")
]
UpdateId = Annotated[
    str | None, typer.Option(help="Idempotency key: a retried override with it counts once.")
]
PrintOverrideSignal = Annotated[
    bool,
    typer.Option(
        "--print-signal",
        help="Send nothing: print the override_signal and its (signed) JSON input, to send "
        "with `temporal workflow signal` or the Temporal UI.",
    ),
]


def override(
    conn: Connection,
    request_id: RequestId,
    actor: Actor,
    reason: Reason,
    update_id: UpdateId = None,
    print_signal: PrintOverrideSignal = False,
) -> None:
    """Override a pending request's soft deny (a policy's Deny(level="soft")).

    The actor must hold one of the soft deny's override roles and not be the requester; the
    override is recorded as an `overridden` decision with the reason (signed in signed
    mode). The request runs once every gate (approvals, checks, overrides) is met. Exit 1
    when refused (not eligible, nothing to override), 2 on bad input (an empty reason).
    """
    vote(
        conn,
        "override",
        request_id,
        actor=actor,
        comment=reason,
        update_id=update_id,
        print_signal=print_signal,
    )


def register_override_command(cli: typer.Typer) -> None:
    """Add `override` to ``cli``."""
    connected_command(cli, SIGNED_OPTIONS, "override")(override)
