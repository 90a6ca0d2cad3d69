"""`mutator compensate REQUEST_ID`: undo an executed request with a new governed request.

Signed like a submit (docs/cli.md, "Signing"): `--key`/`--ssh-agent`, or unsigned.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mutator.cli.common import Actor, RequestId
from mutator.cli.connection import SIGNED_OPTIONS, Connection, connected_command
from mutator.cli.signing import explicit_signer
from mutator.cli.submission import exit_for_submission

Mode = Annotated[
    str,
    typer.Option(
        help="restore: set the state's data back to before the request (only while its "
        "change is the latest version); inverse: submit the mutation's @handler.inverse "
        "payload, a forward correction."
    ),
]


def compensate(
    conn: Connection,
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why the change is undone (required).")] = "",
    mode: Mode = "restore",
    compensation_id: Annotated[
        str | None, typer.Option(help="The compensation's request id (idempotency key).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it ends.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: seconds to wait.", min=0)
    ] = None,
) -> None:
    """Compensate an executed request: a new request, governed like any other, undoes it.

    The compensation changes the same state with the same mutation; policies (which see
    `compensates`), approvals and the version check apply. The original shows
    `compensated_by`, and becomes `compensated` when the compensation executes. Exit 2 for
    an unknown request or bad input; exit 1, nothing stored, when the request is not
    executed, is compensated already or has a compensation under way, for `restore` when the
    state has later versions (named), for `inverse` when the mutation declares no inverse
    (named), and when the compensation is rejected.
    """
    signer = explicit_signer(conn)
    req = conn.client(
        lambda c: c.compensate(
            request_id,
            actor=actor,
            reason=reason,
            mode=mode,
            compensation_id=compensation_id,
            wait=wait,
            wait_timeout=timeout,
        ),
        signer=signer,
    )
    conn.print_request(req)
    exit_for_submission(req, conn.as_json)


def register_compensate_command(cli: typer.Typer) -> None:
    """Add `compensate` to ``cli``."""
    connected_command(cli, SIGNED_OPTIONS, "compensate")(compensate)
