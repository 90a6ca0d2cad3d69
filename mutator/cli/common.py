"""What every `mutator` command shares: running, exit codes, printing a request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from mutator.cli import output
from mutator.errors import MutatorError
from mutator.models import NOT_APPLIED_STATUSES, MutationRequest

T = TypeVar("T")

DEFAULT_APP = "mutator.example_app:app"

# Exit code of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130

AppSpec = Annotated[
    str,
    typer.Option("--app", envvar="MUTATOR_APP", help="Your MutationApp as package.module:attr."),
]
DirectoryPath = Annotated[
    str | None,
    typer.Option(
        "--directory",
        envvar="MUTATOR_DIRECTORY",
        help="A directory file (TOML, or YAML by its .yaml/.yml name) of users, roles and "
        "public keys; it replaces the app's in-code directory. Read at start: restart to apply "
        "a change.",
    ),
]
Actor = Annotated[str, typer.Option("--actor", help="Who is acting (user id).")]
RequestId = Annotated[str, typer.Argument(help="The request's id, as submit printed it.")]
StateId = Annotated[str, typer.Argument(help="The state's id.")]
After = Annotated[
    list[str] | None,
    typer.Option(
        "--after",
        help="Wait until this request is executed (repeatable); rejected if it ends otherwise.",
    ),
]
NotBefore = Annotated[
    str | None,
    typer.Option(
        "--not-before",
        help="Execute no sooner than this time (ISO 8601 with a UTC offset, e.g. "
        "2026-12-24T18:00Z, or from now: +30m, +2h, +1d).",
    ),
]


def fail(error: MutatorError, as_json: bool) -> typer.Exit:
    """Print ``error`` (as JSON with ``as_json``) and return the exit carrying its exit code."""
    output.print_error(str(error), as_json)
    return typer.Exit(error.exit_code)


def run(
    as_json: bool,
    work: Callable[[], Awaitable[T]],
    *,
    interrupted_exit: int = INTERRUPTED,
    quiet_interrupt: bool = False,
) -> T:
    """Run ``work`` to completion; expected failures become a message and an exit code.

    Ctrl-C exits with ``interrupted_exit``, saying "stopped" unless ``quiet_interrupt``.
    """

    async def main() -> T:
        return await work()

    try:
        return asyncio.run(main())
    except MutatorError as exc:
        raise fail(exc, as_json) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not quiet_interrupt:
            output.err_console.print("stopped")
        raise typer.Exit(interrupted_exit) from None


def print_request(req: MutationRequest, as_json: bool, ui_url: str | None = None) -> None:
    """Print a request: JSON with ``as_json``, else a table with its decisions."""
    if as_json:
        output.print_json(req)
    else:
        output.show_request(req, ui_url)


def exit_for(req: MutationRequest) -> None:
    """A request that ended without being applied ends the command with exit code 1."""
    if req.status in NOT_APPLIED_STATUSES:
        raise typer.Exit(1)
