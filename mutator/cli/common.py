"""What every `mutator` command shares: connection options, running, exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from mutator.cli import output
from mutator.errors import MutatorError
from mutator.models import MutationRequest, RequestStatus

if TYPE_CHECKING:
    # Only the commands that talk to Temporal import the client (and so the Temporal SDK):
    # the read commands answer from the store without paying for that import.
    from mutator.client import MutatorClient
    from mutator.reader import StoreReader

T = TypeVar("T")

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_APP = "mutator.example_app:app"

# Exit code of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130

Address = Annotated[
    str, typer.Option("--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port.")
]
Namespace = Annotated[
    str, typer.Option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace.")
]
# Reads come from the store alone; these commands accept the Temporal options so scripts can
# pass the same flags to every command.
ReadAddress = Annotated[
    str,
    typer.Option(
        "--address", envvar="TEMPORAL_ADDRESS", help="Accepted for symmetry; reads use the store."
    ),
]
Database = Annotated[
    str,
    typer.Option("--db", envvar="MUTATOR_DATABASE_URL", help="SQLAlchemy URL of the store."),
]
TaskQueue = Annotated[
    str, typer.Option("--task-queue", envvar="MUTATOR_TASK_QUEUE", help="Worker task queue.")
]
AsJson = Annotated[
    bool, typer.Option("--json", help='Print JSON (errors as {"error": ...}) on stdout.')
]
AppSpec = Annotated[
    str,
    typer.Option("--app", envvar="MUTATOR_APP", help="Your MutationApp as package.module:attr."),
]
Actor = Annotated[str, typer.Option("--actor", help="Who is acting (user id).")]

# A request that ended without its change applied (or never will apply it).
NOT_APPLIED = frozenset(
    {
        RequestStatus.REJECTED,
        RequestStatus.FAILED,
        RequestStatus.EXPIRED,
        RequestStatus.CANCELED,
        RequestStatus.SUPERSEDED,
    }
)


def fail(error: MutatorError, as_json: bool) -> typer.Exit:
    output.print_error(str(error), as_json)
    return typer.Exit(error.exit_code)


def run(
    as_json: bool, work: Callable[[], Awaitable[T]], *, interrupted_exit: int = INTERRUPTED
) -> T:
    """Run ``work`` to completion; expected failures become a message and an exit code."""

    async def main() -> T:
        return await work()

    try:
        return asyncio.run(main())
    except MutatorError as exc:
        raise fail(exc, as_json) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        output.err_console.print("stopped")
        raise typer.Exit(interrupted_exit) from None


def with_client(
    address: str,
    namespace: str,
    db: str,
    task_queue: str,
    as_json: bool,
    action: Callable[[MutatorClient], Awaitable[T]],
) -> T:
    async def work() -> T:
        from mutator.client import MutatorClient

        client = await MutatorClient.connect(address, namespace, db, task_queue=task_queue)
        try:
            return await action(client)
        finally:
            await client.close()

    return run(as_json, work)


def read(db: str, as_json: bool, action: Callable[[StoreReader], Awaitable[T]]) -> T:
    """Reads come from the SQL store alone: they work while Temporal is down."""

    async def work() -> T:
        from mutator.reader import StoreReader
        from mutator.store import Store

        store = Store.from_url(db)
        try:
            await asyncio.to_thread(store.check_schema)
        except BaseException:
            store.dispose()
            raise
        reader = StoreReader(store)
        try:
            return await action(reader)
        finally:
            await reader.close()

    return run(as_json, work)


def print_request(req: MutationRequest, as_json: bool, ui_url: str | None = None) -> None:
    if as_json:
        output.print_json(req)
    else:
        output.show_request(req, ui_url)


def exit_for(req: MutationRequest) -> None:
    """A request that ended without being applied ends the command with exit code 1."""
    if req.status in NOT_APPLIED:
        raise typer.Exit(1)
