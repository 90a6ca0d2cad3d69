"""`mutator check REQUEST_ID NAME --pass|--fail`: report an external check's result.

What a CI job or a scanner runs when it is done. Signed like a vote (docs/cli.md,
"Signing"): `--key`/`--ssh-agent`, or the default key when the request's submission was
signed. `--print-signal` prints the same report as a `check_signal` to send with
`temporal workflow signal` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mutator.cli.common import Actor, RequestId
from mutator.cli.connection import SIGNED_OPTIONS, Connection, connected_command
from mutator.cli.signing import explicit_signer, show_signal, sign_as_the_request_asks
from mutator.errors import MutatorInputError

if TYPE_CHECKING:
    from mutator.client import MutatorClient
    from mutator.client_checks import CheckMessage
    from mutator.models import MutationRequest

CheckName = Annotated[str, typer.Argument(help="The check's name, as the policy requires it.")]
Passed = Annotated[
    bool | None,
    typer.Option("--pass/--fail", help="The check's result (one of them is required)."),
]
Details = Annotated[
    str, typer.Option(help="What the checking system says (a build URL, the failing step).")
]
UpdateId = Annotated[
    str | None, typer.Option(help="Idempotency key: a retried report with it counts once.")
]
PrintCheckSignal = Annotated[
    bool,
    typer.Option(
        "--print-signal",
        help="Send nothing: print the check_signal and its (signed) JSON input, to send with "
        "`temporal workflow signal` or the Temporal UI.",
    ),
]


def check(
    conn: Connection,
    request_id: RequestId,
    name: CheckName,
    actor: Actor,
    passed: Passed = None,
    details: Details = "",
    update_id: UpdateId = None,
    print_signal: PrintCheckSignal = False,
) -> None:
    """Report an external check's result: --pass lets the request go on, --fail rejects it.

    The request must require the check (a policy's RequireChecks) and wait for it, and the
    actor must be one of its reporters (never the requester). Reporting the result already
    recorded again changes nothing (exit 0); a different result is refused (a report is
    final). Exit 1 when the report is refused, 2 on bad input (no --pass/--fail, a bad name).
    """
    if passed is None:
        raise conn.fail(MutatorInputError("--pass/--fail: give the check's result, one of them"))
    signer = explicit_signer(conn)
    result = bool(passed)

    async def act(client: MutatorClient) -> MutationRequest | CheckMessage:
        from mutator.client_checks import check_report_fields
        from mutator.limits import check_optional_id

        check_report_fields(name, actor, details)
        check_optional_id(update_id, "update_id")
        if signer is None:
            await sign_as_the_request_asks(conn, client, request_id)
        if print_signal:
            return await client.prepare_check(
                request_id, name, passed=result, actor=actor, details=details
            )
        return await client.check(
            request_id, name, passed=result, actor=actor, details=details, update_id=update_id
        )

    done = conn.client(act, signer=signer)
    from mutator.client_checks import CheckMessage

    if isinstance(done, CheckMessage):
        show_signal(done, conn)
    else:
        conn.print_request(done)


def register_check_command(cli: typer.Typer) -> None:
    """Add `check` to ``cli``."""
    connected_command(cli, SIGNED_OPTIONS, "check")(check)
