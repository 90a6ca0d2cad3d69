"""`mutator watch`: each new version of a state as one JSON line, until Ctrl-C."""

from __future__ import annotations

import sys
from contextlib import aclosing
from typing import TYPE_CHECKING, Annotated

import typer

from mutator.cli import output
from mutator.cli.common import StateId
from mutator.cli.connection import READ_OPTIONS, Connection, connected_command
from mutator.errors import MutatorNotFound

if TYPE_CHECKING:
    from mutator.reader import StoreReader

FromVersion = Annotated[
    int | None,
    typer.Option(
        "--from-version",
        min=0,
        help="First print every stored version above N (0: the whole history), then follow. "
        "Default: only versions committed from now on. To resume, pass the last version "
        "printed.",
    ),
]


def watch(conn: Connection, state_id: StateId, from_version: FromVersion = None) -> None:
    """Print each new version of a state as one JSON line as it commits, until Ctrl-C.

    Each line is one entry of `history --json`: version, request_id, actor, at, data. A
    state with no version yet is waited for (a note on stderr says so). Ctrl-C exits 0.
    """

    async def follow(reader: StoreReader) -> None:
        if not from_version:
            try:
                await reader.state(state_id)
            except MutatorNotFound:
                output.err_console.print(
                    f"state {state_id!r} has no version yet: waiting for its first",
                    highlight=False,
                )
        async with aclosing(reader.watch(state_id, from_version)) as versions:
            async for entry in versions:
                try:
                    sys.stdout.write(entry.model_dump_json() + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:  # `mutator watch ... | head -1`: the reader is done
                    return

    conn.read(follow, quiet_interrupt=True)


def register_watch_command(cli: typer.Typer) -> None:
    """Add `watch` to ``cli``."""
    connected_command(cli, READ_OPTIONS, "watch")(watch)
