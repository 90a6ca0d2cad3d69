"""The long-running and set-up commands: `mutator dev`, `mutator worker`, `mutator db upgrade`.

Their implementations (`mutator.cli.dev`) import the Temporal SDK and the worker code; they
are imported when one of these commands runs, so the read commands never pay for them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from mutator.cli import output
from mutator.cli.common import DEFAULT_APP, AppSpec, DirectoryPath
from mutator.cli.connection import (
    DEV_OPTIONS,
    SCHEMA_OPTIONS,
    TEMPORAL_OPTIONS,
    Connection,
    connected_command,
)
from mutator.errors import MutatorInputError
from mutator.limits import validate_heartbeat_timeout, validate_max_concurrent_mutations
from mutator.notifications import (
    WEBHOOK_SECRET_ENV,
    WEBHOOK_URL_ENV,
    WEBHOOK_URL_OPTION,
    WebhookConfig,
    webhook_config,
)
from mutator.store import Store

WebhookUrl = Annotated[
    str | None,
    typer.Option(
        WEBHOOK_URL_OPTION,
        envvar=WEBHOOK_URL_ENV,
        help="Send the requests' events (Standard Webhooks) to this http(s) URL, signed "
        f"with the secret in {WEBHOOK_SECRET_ENV} (whsec_...). See docs/notifications.md.",
    ),
]


def register_process_commands(cli: typer.Typer, db_cli: typer.Typer) -> None:
    """Add `dev` and `worker` to ``cli``, and `upgrade` to ``db_cli``."""
    connected_command(cli, DEV_OPTIONS)(dev)
    connected_command(cli, TEMPORAL_OPTIONS)(worker)
    connected_command(db_cli, SCHEMA_OPTIONS, "upgrade")(db_upgrade)


def dev(
    conn: Connection,
    port: Annotated[int, typer.Option(help="Temporal gRPC port.", min=1, max=65535)] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.", min=1, max=65535)] = 8233,
    app: AppSpec = DEFAULT_APP,
    directory: DirectoryPath = None,
    data_dir: Annotated[str, typer.Option(help="Where the dev server keeps its history.")] = (
        ".mutator"
    ),
    webhook_url: WebhookUrl = None,
) -> None:
    """Start a Temporal dev server (with Web UI), a worker and a SQLite store; Ctrl-C stops all.

    Its server is plain: TLS and API key settings (flags or environment) are refused.
    """
    from mutator.cli.dev import run_dev

    conn.refuse_tls("`mutator dev` starts a plain local Temporal server")
    webhook = _webhook(webhook_url, conn)

    conn.run(
        lambda: run_dev(
            port=port,
            ui_port=ui_port,
            app_spec=app,
            directory_file=directory,
            db=conn.db,
            data_dir=data_dir,
            task_queue=conn.task_queue,
            as_json=conn.as_json,
            webhook=webhook,
        ),
        interrupted_exit=0,
    )


def worker(
    conn: Connection,
    app: AppSpec = DEFAULT_APP,
    directory: DirectoryPath = None,
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
    webhook_url: WebhookUrl = None,
) -> None:
    """Run a worker: the request workflows and their activities for your app."""
    from mutator.cli.dev import run_worker_forever

    slots = _slots(max_concurrent_mutations, conn)
    heartbeat_timeout_seconds = _heartbeat_timeout(heartbeat_timeout, conn)
    webhook = _webhook(webhook_url, conn)

    conn.run(
        lambda: run_worker_forever(
            app_spec=app,
            directory_file=directory,
            address=conn.address,
            namespace=conn.namespace,
            db=conn.db,
            task_queue=conn.task_queue,
            max_concurrent_mutations=slots,
            metrics_port=metrics_port,
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            as_json=conn.as_json,
            tls=conn.temporal_tls(),
            api_key=conn.api_key,
            webhook=webhook,
        ),
        interrupted_exit=0,
    )


def _webhook(url: str | None, conn: Connection) -> WebhookConfig | None:
    """The webhook from ``--webhook-url`` and the secret's environment variable."""
    try:
        return webhook_config(url, os.environ.get(WEBHOOK_SECRET_ENV))
    except MutatorInputError as exc:
        raise conn.fail(exc) from None


def _heartbeat_timeout(value: str, conn: Connection) -> float:
    try:
        return validate_heartbeat_timeout(value)
    except MutatorInputError as exc:
        raise conn.fail(MutatorInputError(f"--heartbeat-timeout: {exc}")) from None


def _slots(value: str, conn: Connection) -> int:
    try:
        return validate_max_concurrent_mutations(value)
    except MutatorInputError as exc:
        raise conn.fail(MutatorInputError(f"--max-concurrent-mutations: {exc}")) from None


def db_upgrade(conn: Connection) -> None:
    """Create or migrate the store's schema to the newest revision."""

    async def work() -> tuple[str | None, str]:
        store = Store.from_url(conn.db)
        try:
            await asyncio.to_thread(store.migrate)
            return await asyncio.to_thread(store.schema_status)
        finally:
            store.dispose()

    current, head = conn.run(work)
    if conn.as_json:
        output.print_json({"database": conn.db, "revision": current, "head": head})
    else:
        output.console.print(f"schema at revision {current} (newest {head})")
