"""`mutator batch` and `mutator locks`: core execution concurrency from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mutator.cli import output
from mutator.cli.common import Actor, After, NotBefore
from mutator.cli.connection import (
    SIGNED_OPTIONS,
    TEMPORAL_OPTIONS,
    Connection,
    connected_command,
)
from mutator.cli.signing import explicit_signer
from mutator.cli.submission import exit_for_submission
from mutator.errors import MutatorInputError
from mutator.limits import load_json
from mutator.models import BatchMode, LockInfo
from mutator.schedule import parse_time


def read_batch_file(path: Path) -> list[dict[str, Any]]:
    """The items of a batch file: a JSON array of item objects, UTF-8.

    Raises:
        MutatorInputError: The file cannot be read, is not UTF-8 JSON, or is not an array of
            objects.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MutatorInputError(f"FILE: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MutatorInputError(
            f"FILE: {str(path)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); JSON files are UTF-8"
        ) from None
    # Each payload's content is checked by the client, where its field is known.
    items: Any = load_json(text, f"FILE: {str(path)!r}")
    if isinstance(items, dict) and "items" in items:
        items = items["items"]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MutatorInputError(
            f"FILE: {str(path)!r} must hold a JSON list of items "
            '[{"state_id": ..., "mutation": ..., "payload": {...}}, ...]'
        )
    return items


def batch(
    conn: Connection,
    file: Annotated[Path, typer.Argument(help="JSON list of {state_id, mutation, payload}.")],
    actor: Actor,
    mode: Annotated[
        BatchMode,
        typer.Option(
            help="atomic: all or none; sequential: stop at the first "
            "failure; independent: every item runs."
        ),
    ] = BatchMode.ATOMIC,
    reason: Annotated[str, typer.Option(help="Why this change is needed.")] = "",
    request_id: Annotated[
        str | None, typer.Option(help="Idempotency key; resubmitting returns the same request.")
    ] = None,
    after: After = None,
    not_before: NotBefore = None,
    compensate_on_failure: Annotated[
        bool,
        typer.Option(
            "--compensate-on-failure",
            help="sequential only: when an item fails, undo the applied items in reverse "
            "order (a saga).",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the batch ends.")] = False,
) -> None:
    """Submit several mutations, over one or more states, governed as one request.

    Approved, it executes when every item's change window is open and no freeze covers
    any item (or, with --not-before, no sooner than that time): until then it waits,
    pending (schedule).
    """
    try:
        items = read_batch_file(file)
        earliest = (
            parse_time(not_before, "--not-before", datetime.now(UTC))
            if not_before is not None
            else None
        )
    except MutatorInputError as exc:
        raise conn.fail(exc) from None
    signer = explicit_signer(conn)
    req = conn.client(
        lambda c: c.submit_batch(
            items,
            mode=mode,
            actor=actor,
            reason=reason,
            request_id=request_id,
            after=after or [],
            not_before=earliest,
            compensate_on_failure=compensate_on_failure,
            wait=wait,
        ),
        signer=signer,
    )
    conn.print_request(req)
    exit_for_submission(req, conn.as_json)


def locks(conn: Connection) -> None:
    """States in use now: open lanes and direct executions.

    For each: the holder, its fencing token, the queue and the lease; a lease past its
    expiry is flagged STALE.
    """
    found = conn.client(lambda c: c.locks())
    if conn.as_json:
        output.print_json(found)
    else:
        show_locks(found)


def show_locks(found: list[LockInfo]) -> None:
    """Print the states in use as a table."""
    table = Table("state", "holder", "token", "queue", "acquired", "expires", "stale", "note")
    for lock in found:
        table.add_row(
            lock.state_id,
            lock.holder_request_id or "-",
            str(lock.fencing_token or "-"),
            str(lock.queue_length),
            lock.acquired_at.isoformat(timespec="seconds") if lock.acquired_at else "-",
            lock.expires_at.isoformat(timespec="seconds") if lock.expires_at else "-",
            "STALE" if lock.stale else "",
            lock.note,
        )
    output.console.print(table)


def register_concurrency_commands(cli: typer.Typer) -> None:
    """Add `batch` and `locks` to ``cli``."""
    connected_command(cli, SIGNED_OPTIONS)(batch)
    connected_command(cli, TEMPORAL_OPTIONS)(locks)
