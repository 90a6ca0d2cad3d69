"""The `mutator` command. Exit codes: 0 ok, 1 refused by the domain, 2 bad usage or input."""

from __future__ import annotations

import os
from typing import Annotated, Any, NoReturn

import typer

from mutator.cli import output
from mutator.cli.common import (
    DEFAULT_ADDRESS,
    DEFAULT_APP,
    DEFAULT_NAMESPACE,
    Actor,
    Address,
    AppSpec,
    AsJson,
    Database,
    Namespace,
    ReadAddress,
    TaskQueue,
    exit_for,
    fail,
    print_request,
    read,
    run,
    with_client,
)
from mutator.cli.concurrency import register_concurrency_commands
from mutator.cli.entry import exit_process, invoke
from mutator.cli.submission import exit_for_submission
from mutator.errors import MutatorInputError
from mutator.ids import request_workflow_id
from mutator.limits import MAX_VERSION, parse_json_object
from mutator.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, decode_cursor
from mutator.models import MutationRequest
from mutator.settings import DEFAULT_DATABASE_URL, DEFAULT_UI_URL, TASK_QUEUE

cli = typer.Typer(
    name="mutator",
    help="Governed state mutations on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


def ui_link(req: MutationRequest, namespace: str) -> str:
    base = os.environ.get("MUTATOR_UI_URL", DEFAULT_UI_URL).rstrip("/")
    return f"{base}/namespaces/{namespace}/workflows/{request_workflow_id(req.request_id)}"


# -- running ------------------------------------------------------------------------------


@cli.command()
def dev(
    port: Annotated[int, typer.Option(help="Temporal gRPC port.", min=1, max=65535)] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.", min=1, max=65535)] = 8233,
    app: AppSpec = DEFAULT_APP,
    db: Database = DEFAULT_DATABASE_URL,
    data_dir: Annotated[str, typer.Option(help="Where the dev server keeps its history.")] = (
        ".mutator"
    ),
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Start a Temporal dev server (with Web UI), a worker and a SQLite store; Ctrl-C stops all."""
    from mutator.cli.dev import run_dev

    run(
        as_json,
        lambda: run_dev(
            port=port,
            ui_port=ui_port,
            app_spec=app,
            db=db,
            data_dir=data_dir,
            task_queue=task_queue,
            as_json=as_json,
        ),
        interrupted_exit=0,
    )


@cli.command()
def worker(
    app: AppSpec = DEFAULT_APP,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    max_concurrent_mutations: Annotated[
        str,
        typer.Option(
            envvar="MUTATOR_MAX_CONCURRENT_MUTATIONS",
            help="Mutations this worker process executes at once (slots of the execution "
            "task queue). The global cap is the sum over worker processes.",
        ),
    ] = "10",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            envvar="MUTATOR_METRICS_PORT",
            min=1,
            max=65535,
            help="Serve Prometheus metrics (Temporal SDK + Mutator) on this port at /metrics.",
        ),
    ] = None,
    heartbeat_timeout: Annotated[
        str,
        typer.Option(
            envvar="MUTATOR_HEARTBEAT_TIMEOUT_SECONDS",
            help="Seconds without a heartbeat after which a mutation's execution is presumed "
            "lost with its worker and retried on another one (under a new fencing token).",
        ),
    ] = "5",
    as_json: AsJson = False,
) -> None:
    """Run a worker: the request workflows and their activities for your app."""
    from mutator.cli.dev import run_worker_forever

    run(
        as_json,
        lambda: run_worker_forever(
            app_spec=app,
            address=address,
            namespace=namespace,
            db=db,
            task_queue=task_queue,
            max_concurrent_mutations=_slots(max_concurrent_mutations, as_json),
            metrics_port=metrics_port,
            heartbeat_timeout_seconds=_heartbeat_timeout(heartbeat_timeout, as_json),
            as_json=as_json,
        ),
        interrupted_exit=0,
    )


def _heartbeat_timeout(value: str, as_json: bool) -> float:
    from mutator.temporal import validate_heartbeat_timeout

    try:
        return validate_heartbeat_timeout(value)
    except MutatorInputError as exc:
        raise fail(MutatorInputError(f"--heartbeat-timeout: {exc}"), as_json) from None


def _slots(value: str, as_json: bool) -> int:
    from mutator.temporal import validate_max_concurrent_mutations

    try:
        return validate_max_concurrent_mutations(value)
    except MutatorInputError as exc:
        raise fail(MutatorInputError(f"--max-concurrent-mutations: {exc}"), as_json) from None


@db_cli.command("upgrade")
def db_upgrade(db: Database = DEFAULT_DATABASE_URL, as_json: AsJson = False) -> None:
    """Create or migrate the store's schema to the newest revision."""
    import asyncio

    from mutator.store import Store

    async def work() -> tuple[str | None, str]:
        store = Store.from_url(db)
        try:
            await asyncio.to_thread(store.migrate)
            return await asyncio.to_thread(store.schema_status)
        finally:
            store.dispose()

    current, head = run(as_json, work)
    if as_json:
        output.print_json({"database": db, "revision": current, "head": head})
    else:
        output.console.print(f"schema at revision {current} (newest {head})")


# -- requests -----------------------------------------------------------------------------


def parse_payload(text: str) -> dict[str, Any]:
    return parse_json_object(text, "--payload")


@cli.command()
def submit(
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
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the request ends.")] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --wait: seconds to wait.", min=0)
    ] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Submit a mutation request; policies decide at once whether it runs, waits or is denied.

    Exit 1 when it is rejected (policy, validator) or, with --wait, ends without executing.
    """
    try:
        body = parse_payload(payload)
    except MutatorInputError as exc:
        raise fail(exc, as_json) from None
    req = with_client(
        address,
        namespace,
        db,
        task_queue,
        as_json,
        lambda c: c.submit(
            state_id,
            mutation,
            body,
            actor=actor,
            reason=reason,
            request_id=request_id,
            expected_version=expected_version,
            wait=wait,
            wait_timeout=timeout,
        ),
    )
    print_request(req, as_json)
    exit_for_submission(req, as_json)


@cli.command()
def approve(
    request_id: str,
    actor: Actor,
    comment: Annotated[str, typer.Option(help="Shown in the request's record.")] = "",
    update_id: Annotated[
        str | None, typer.Option(help="Idempotency key: a retried approve with it counts once.")
    ] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Approve a pending request (one vote per eligible approver)."""
    req = with_client(
        address,
        namespace,
        db,
        task_queue,
        as_json,
        lambda c: c.approve(request_id, actor=actor, comment=comment, update_id=update_id),
    )
    print_request(req, as_json)


@cli.command()
def reject(
    request_id: str,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why the request is rejected.")],
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Reject a pending request; any eligible approver's rejection ends it."""
    req = with_client(
        address,
        namespace,
        db,
        task_queue,
        as_json,
        lambda c: c.reject(request_id, actor=actor, reason=reason),
    )
    print_request(req, as_json)


@cli.command()
def cancel(
    request_id: str,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why it is canceled.")] = "",
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Cancel a pending request (its requester or an eligible approver)."""
    req = with_client(
        address,
        namespace,
        db,
        task_queue,
        as_json,
        lambda c: c.cancel(request_id, actor=actor, reason=reason),
    )
    print_request(req, as_json)


@cli.command()
def wait(
    request_id: str,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds.", min=0)
    ] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    task_queue: TaskQueue = TASK_QUEUE,
    as_json: AsJson = False,
) -> None:
    """Wait until a request ends; exit 1 on timeout or when it ended without executing."""
    req = with_client(
        address, namespace, db, task_queue, as_json, lambda c: c.wait(request_id, timeout=timeout)
    )
    print_request(req, as_json)
    exit_for(req)


# -- reads (from the store alone: they work while Temporal is down) -----------------------


@cli.command()
def show(
    request_id: str,
    address: ReadAddress = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    as_json: AsJson = False,
) -> None:
    """Show a request: status, approvals, versions and every decision."""
    req = read(db, as_json, lambda c: c.get(request_id))
    print_request(req, as_json, ui_link(req, namespace))


@cli.command("list")
def list_requests(
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
    address: ReadAddress = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    as_json: AsJson = False,
) -> None:
    """List requests, newest first, a page at a time."""
    if after is not None:
        try:
            decode_cursor(after, "--after")
        except MutatorInputError as exc:
            raise fail(exc, as_json) from None
    page = read(
        db,
        as_json,
        lambda c: c.list(
            status=status,
            state_id=state,
            mutation=mutation,
            requester=requester,
            limit=limit,
            after=after,
        ),
    )
    if as_json:
        output.print_json(page)
    else:
        output.show_page(page)


@cli.command("state")
def show_state(
    state_id: str,
    version: Annotated[
        int | None, typer.Option(help="An earlier version.", min=0, max=MAX_VERSION)
    ] = None,
    address: ReadAddress = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    as_json: AsJson = False,
) -> None:
    """Show a state's current (or an earlier) version."""
    found = read(db, as_json, lambda c: c.state(state_id, version=version))
    if as_json:
        output.print_json(found)
    else:
        output.show_state(found)


@cli.command()
def history(
    state_id: str,
    address: ReadAddress = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    as_json: AsJson = False,
) -> None:
    """Every version of a state, with the request that made it."""
    entries = read(db, as_json, lambda c: c.history(state_id))
    if as_json:
        output.print_json(entries)
    else:
        output.show_history(entries)


@cli.command()
def audit(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    request: Annotated[str | None, typer.Option(help="Only this request.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=100000, help="The newest N decisions (oldest first).")
    ] = 1000,
    address: ReadAddress = DEFAULT_ADDRESS,
    namespace: Namespace = DEFAULT_NAMESPACE,
    db: Database = DEFAULT_DATABASE_URL,
    as_json: AsJson = False,
) -> None:
    """The decision record: every transition, vote and refused attempt."""
    entries = read(db, as_json, lambda c: c.audit(state_id=state, request_id=request, limit=limit))
    if as_json:
        output.print_json(entries)
    else:
        output.show_audit(entries)


register_concurrency_commands(cli)


def main(argv: list[str] | None = None) -> NoReturn:
    """The `mutator` script: run one command and exit with its code."""
    exit_process(invoke(cli, argv))


if __name__ == "__main__":
    main()
