"""The `mutator` command. Exit codes: 0 ok, 1 refused by the domain, 2 bad usage or input."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer

from mutator.cli import output
from mutator.cli.calendar import register_calendar_commands
from mutator.cli.checks import register_check_command
from mutator.cli.common import (
    Actor,
    After,
    NotBefore,
    RequestId,
    StateId,
    exit_for,
)
from mutator.cli.compensate import register_compensate_command
from mutator.cli.concurrency import register_concurrency_commands
from mutator.cli.connection import (
    READ_OPTIONS,
    SIGNED_OPTIONS,
    TEMPORAL_OPTIONS,
    Connection,
    connected_command,
)
from mutator.cli.deliveries import register_delivery_commands
from mutator.cli.effects import register_effect_commands
from mutator.cli.entry import exit_process, invoke
from mutator.cli.overrides import register_override_command
from mutator.cli.processes import register_process_commands
from mutator.cli.signing import explicit_signer, vote
from mutator.cli.submission import dry_run as run_dry
from mutator.cli.submission import exit_for_submission
from mutator.cli.verification import show_verification, signature_audit
from mutator.cli.watch import register_watch_command
from mutator.errors import MutatorInputError
from mutator.ids import request_workflow_id
from mutator.limits import (
    MAX_VERSION,
    parse_json_object,
)
from mutator.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, decode_cursor
from mutator.models import MutationRequest
from mutator.schedule import parse_time
from mutator.settings import DEFAULT_UI_URL

cli = typer.Typer(
    name="mutator",
    help=(
        "Governed state mutations on Temporal: policies and approvers decide, each change "
        "executes once, every decision is recorded.\n\n"
        "`mutator dev` starts a local Temporal server, a worker and a store, and prints "
        "commands to try."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help paragraphs are reflowed to the terminal, and `code` is shown as code.
    rich_markup_mode="markdown",
)
db_cli = typer.Typer(help="The store's database schema (migrations).", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
register_process_commands(cli, db_cli)


def ui_link(req: MutationRequest, namespace: str) -> str:
    """The request's workflow in the Temporal UI (base: MUTATOR_UI_URL)."""
    base = os.environ.get("MUTATOR_UI_URL", DEFAULT_UI_URL).rstrip("/")
    return f"{base}/namespaces/{namespace}/workflows/{request_workflow_id(req.request_id)}"


# -- requests -----------------------------------------------------------------------------


def parse_payload(text: str) -> dict[str, Any]:
    """The ``--payload`` option's JSON object.

    Raises:
        MutatorInputError: The text is not a JSON object.
    """
    return parse_json_object(text, "--payload")


PrintSignal = Annotated[
    bool,
    typer.Option(
        "--print-signal",
        help="Send nothing: print the signal name and the (signed) JSON input to paste into "
        "the Temporal UI's Send a Signal.",
    ),
]


@connected_command(cli, SIGNED_OPTIONS)
def submit(
    conn: Connection,
    state_id: Annotated[str, typer.Argument(help="The state to change.")],
    mutation: Annotated[str, typer.Argument(help="A registered mutation name.")],
    actor: Actor,
    payload: Annotated[str, typer.Option(help="The mutation's payload, a JSON object.")] = "{}",
    reason: Annotated[str, typer.Option(help="Why this change is needed.")] = "",
    request_id: Annotated[
        str | None, typer.Option(help="Idempotency key; resubmitting returns the same request.")
    ] = None,
    expected_version: Annotated[
        int | None,
        typer.Option(
            help="Refuse to run unless the state is at this version.", min=0, max=MAX_VERSION
        ),
    ] = None,
    after: After = None,
    not_before: NotBefore = None,
    break_glass: Annotated[
        bool,
        typer.Option(
            "--break-glass",
            help="An emergency (needs --reason and a break-glass role): no approvals, "
            "windows, freezes or quotas; the break-glass quorum instead.",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the request ends.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: seconds to wait.", min=0)
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Run validators, policies and the handler on the state as it is now, on a "
            "worker, and print the outcome, the change and the data; nothing is stored.",
        ),
    ] = False,
) -> None:
    """Submit a mutation request; policies decide at once whether it runs, waits or is denied.

    With --after, it first waits (pending, reason dependency) until each named request is
    executed. With --not-before (or a closed change window, or a freeze), an approved
    request waits (pending, reason schedule) until it may run. Exit 1 when it is rejected
    (policy, validator, a dependency not executed) or, with --wait, ends without executing;
    2 when an --after id names no request or --not-before is not a time with a UTC offset.
    --break-glass (docs/gates.md): exit 1, nothing stored, when the actor holds no
    break-glass role or the app declares none; 2 without --reason.
    """
    try:
        body = parse_payload(payload)
        earliest = (
            parse_time(not_before, "--not-before", datetime.now(UTC))
            if not_before is not None
            else None
        )
    except MutatorInputError as exc:
        raise conn.fail(exc) from None
    if dry_run:
        given = {
            "--request-id": request_id is not None,
            "--expected-version": expected_version is not None,
            "--after": bool(after),
            "--not-before": not_before is not None,
            "--break-glass": break_glass,
            "--wait": wait,
        }
        refused = [option for option, present in given.items() if present]
        run_dry(conn, state_id, mutation, body, actor=actor, reason=reason, refused_with=refused)
        return
    signer = explicit_signer(conn)
    req = conn.client(
        lambda c: c.submit(
            state_id,
            mutation,
            body,
            actor=actor,
            reason=reason,
            request_id=request_id,
            expected_version=expected_version,
            after=after or [],
            not_before=earliest,
            break_glass=break_glass,
            wait=wait,
            wait_timeout=timeout,
        ),
        signer=signer,
    )
    conn.print_request(req)
    exit_for_submission(req, conn.as_json)


@connected_command(cli, SIGNED_OPTIONS)
def approve(
    conn: Connection,
    request_id: RequestId,
    actor: Actor,
    comment: Annotated[str, typer.Option(help="Shown in the request's record.")] = "",
    update_id: Annotated[
        str | None, typer.Option(help="Idempotency key: a retried approve with it counts once.")
    ] = None,
    print_signal: PrintSignal = False,
) -> None:
    """Approve a pending request (one vote per eligible approver).

    Once every approval requirement is met, the request runs. Exit 1 when the vote is
    refused (not eligible, already voted, a signature the worker refuses, or the request no
    longer pending).
    """
    vote(
        conn,
        "approve",
        request_id,
        actor=actor,
        comment=comment,
        update_id=update_id,
        print_signal=print_signal,
    )


@connected_command(cli, SIGNED_OPTIONS)
def reject(
    conn: Connection,
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why the request is rejected.")],
    print_signal: PrintSignal = False,
) -> None:
    """Reject a pending request; any eligible approver's rejection ends it.

    The request ends rejected (approver_rejected) and never runs.
    """
    vote(conn, "reject", request_id, actor=actor, comment=reason, print_signal=print_signal)


@connected_command(cli, SIGNED_OPTIONS)
def cancel(
    conn: Connection,
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why it is canceled.")] = "",
    print_signal: PrintSignal = False,
) -> None:
    """Cancel a pending request (its requester or an eligible approver).

    The request ends canceled and never runs. Once approved, it can no longer be canceled.
    """
    vote(conn, "cancel", request_id, actor=actor, comment=reason, print_signal=print_signal)


@connected_command(cli, TEMPORAL_OPTIONS)
def wait(
    conn: Connection,
    request_id: RequestId,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds.", min=0)
    ] = None,
) -> None:
    """Wait until a request ends; exit 1 on timeout or when it ended without executing."""
    req = conn.client(lambda c: c.wait(request_id, timeout=timeout))
    conn.print_request(req)
    exit_for(req)


# -- reads (from the store alone: they work while Temporal is down) -----------------------


@connected_command(cli, READ_OPTIONS)
def show(conn: Connection, request_id: RequestId) -> None:
    """Show a request: status, approvals, versions and every decision.

    Reads the store alone, so it answers while Temporal is down.
    """
    req = conn.read(lambda c: c.get(request_id))
    conn.print_request(req, ui_link(req, conn.namespace))


@connected_command(cli, READ_OPTIONS, "list")
def list_requests(
    conn: Connection,
    status: Annotated[str | None, typer.Option(help="Only requests with this status.")] = None,
    state: Annotated[str | None, typer.Option(help="Only requests on this state id.")] = None,
    mutation: Annotated[str | None, typer.Option(help="Only this mutation.")] = None,
    requester: Annotated[str | None, typer.Option(help="Only requests by this user.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_LIST_LIMIT, help="Requests on this page.")
    ] = DEFAULT_LIST_LIMIT,
    after: Annotated[
        str | None,
        typer.Option(help="Show the page after this cursor, as the previous page printed it."),
    ] = None,
) -> None:
    """List requests, newest first, a page at a time.

    The last line says how many more match and the --after cursor of the next page.
    """
    if after is not None:
        try:
            decode_cursor(after, "--after")
        except MutatorInputError as exc:
            raise conn.fail(exc) from None
    page = conn.read(
        lambda c: c.list(
            status=status,
            state_id=state,
            mutation=mutation,
            requester=requester,
            limit=limit,
            after=after,
        )
    )
    if conn.as_json:
        output.print_json(page)
    else:
        output.show_page(page)


@connected_command(cli, READ_OPTIONS, "state")
def show_state(
    conn: Connection,
    state_id: StateId,
    version: Annotated[
        int | None, typer.Option(help="An earlier version.", min=0, max=MAX_VERSION)
    ] = None,
) -> None:
    """Show a state's current (or an earlier) version."""
    found = conn.read(lambda c: c.state(state_id, version=version))
    if conn.as_json:
        output.print_json(found)
    else:
        output.show_state(found)


@connected_command(cli, READ_OPTIONS)
def history(conn: Connection, state_id: StateId) -> None:
    """Every version of a state, with the request that made it."""
    entries = conn.read(lambda c: c.history(state_id))
    if conn.as_json:
        output.print_json(entries)
    else:
        output.show_history(entries)


@connected_command(cli, READ_OPTIONS)
def audit(
    conn: Connection,
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    request: Annotated[str | None, typer.Option(help="Only this request.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=100000, help="The newest N decisions (oldest first).")
    ] = 1000,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Recompute the record's hash chains instead (decisions and state history, "
            "of `--state`/`--request` only when given): exit 1 naming every row edited, "
            "deleted, inserted or reordered; with `--directory` or `--app`, every stored "
            "signature is verified too.",
        ),
    ] = False,
    directory: Annotated[
        str | None,
        typer.Option(
            "--directory",
            envvar="MUTATOR_DIRECTORY",
            help="With --verify: verify every stored signature against this directory "
            "file's keys, and report every person's decision without one.",
        ),
    ] = None,
    app: Annotated[
        str | None,
        typer.Option(
            "--app",
            envvar="MUTATOR_APP",
            help="With --verify: verify every stored signature against this MutationApp's "
            "directory (package.module:attr); in claimed mode, unsigned decisions are listed "
            "as claimed, not reported.",
        ),
    ] = None,
) -> None:
    """The decision record: every transition, vote and refused attempt.

    Each person's decision is marked `identity: claimed`, or `signed:` with its key.
    """
    if verify:
        try:
            signatures = signature_audit(app, directory)
        except MutatorInputError as exc:
            raise conn.fail(exc) from None
        report = conn.read(
            lambda c: c.verify_audit(state_id=state, request_id=request, signatures=signatures)
        )
        show_verification(report, conn.as_json)
        if not report.ok:
            raise typer.Exit(1)
        return
    entries = conn.read(lambda c: c.audit(state_id=state, request_id=request, limit=limit))
    if conn.as_json:
        output.print_json(entries)
    else:
        output.show_audit(entries)


register_concurrency_commands(cli)
register_calendar_commands(cli)
register_delivery_commands(cli)
register_effect_commands(cli)
register_watch_command(cli)
register_check_command(cli)
register_compensate_command(cli)
register_override_command(cli)


def main(argv: list[str] | None = None) -> NoReturn:
    """The `mutator` script: run one command and exit with its code."""
    exit_process(invoke(cli, argv))


if __name__ == "__main__":
    main()
