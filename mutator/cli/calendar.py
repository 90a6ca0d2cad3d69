"""`mutator freeze start|end|list` and `mutator calendar`: change freezes and windows.

Freezes are rows in the store, written here directly (no Temporal needed); windows are the
app's (``app.window``), so `calendar` loads the app like `mutator worker` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from mutator.cli import output
from mutator.cli.common import Actor, AppSpec
from mutator.cli.connection import SCHEMA_OPTIONS, TEMPORAL_OPTIONS, Connection, connected_command
from mutator.client_schedule import end_and_find_waiting, freeze_ended_reason
from mutator.errors import MutatorInputError
from mutator.limits import check_name
from mutator.loader import load_app
from mutator.schedule import (
    CalendarEntry,
    Freeze,
    ScheduleStatus,
    calendar,
    new_freeze,
    parse_time,
    schedule_status,
)
from mutator.store import Store

T = TypeVar("T")

freeze_cli = typer.Typer(
    help="Freezes: stop changes (all, or those matching globs) until a time.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The freeze's name.")]
TIME_HELP = "ISO 8601 with a UTC offset, e.g. 2026-12-24T18:00Z, or from now: +30m, +2h, +1d"


def _with_store(conn: Connection, action: Callable[[Store], T]) -> T:
    """Run ``action`` on the store (schema checked) in a thread; errors become exit codes."""

    async def work() -> T:
        store = Store.from_url(conn.db)
        try:
            await asyncio.to_thread(store.check_schema)
            return await asyncio.to_thread(action, store)
        finally:
            store.dispose()

    return conn.run(work)


def freeze_start(
    conn: Connection,
    name: Name,
    until: Annotated[str, typer.Option(help=f"When the freeze ends by itself ({TIME_HELP}).")],
    reason: Annotated[str, typer.Option(help="Why changes are frozen.")],
    actor: Actor,
    mutations: Annotated[
        str, typer.Option(help="Only mutations whose name matches this glob.")
    ] = "*",
    states: Annotated[str, typer.Option(help="Only states whose id matches this glob.")] = "*",
) -> None:
    """Declare a freeze now: the changes it covers wait until it ends (exit 2: bad input)."""
    now = datetime.now(UTC)
    try:
        declared = new_freeze(
            name=name,
            until=parse_time(until, "--until", datetime.now(UTC)),
            reason=reason,
            actor=actor,
            now=now,
            mutations=mutations,
            states=states,
        )
    except MutatorInputError as exc:
        raise conn.fail(exc) from None
    stored = _with_store(conn, lambda store: store.freezes.start(declared))
    _print_freezes([stored], conn.as_json, now, one=True)


def freeze_end(conn: Connection, name: Name, actor: Actor) -> None:
    """End an active freeze now, and wake the requests it held back (exit 2: none active).

    Each request pending (schedule) that the freeze covered is signalled and executes at
    once, checking its schedule again; the ids woken are printed. Temporal is connected to
    only when there are such requests; unreachable, the freeze is still ended and they
    execute at their scheduled time.
    """
    try:
        check_name(actor, "--actor")
    except MutatorInputError as exc:
        raise conn.fail(exc) from None
    now = datetime.now(UTC)
    ended, waiting = _with_store(conn, lambda store: end_and_find_waiting(store, name, actor, now))
    # Temporal is needed only when the freeze held requests back.
    reason = freeze_ended_reason(name, actor)
    woken = conn.client(lambda c: c.wake_for_schedule(waiting, reason)) if waiting else []
    if conn.as_json:
        freeze = ended.model_dump(mode="json") | {"status": _status(ended, now)}
        output.print_json(freeze | {"woken": woken})
        return
    _print_freezes([ended], False, now, one=True)
    output.console.print(f"woken: {', '.join(woken) or 'none'}")


def freeze_list(
    conn: Connection,
    active: Annotated[bool, typer.Option("--active", help="Only the freezes active now.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="The newest N freezes.")] = 100,
) -> None:
    """Every freeze, newest first: who declared it, why, until when, and who ended it."""
    now = datetime.now(UTC)
    found = _with_store(
        conn, lambda store: store.freezes.list(active_at=now if active else None, limit=limit)
    )
    _print_freezes(found, conn.as_json, now)


def _status(freeze: Freeze, now: datetime) -> str:
    if freeze.active(now):
        return "active"
    return "ended" if freeze.ended_at is not None else "expired"


def _print_freezes(found: list[Freeze], as_json: bool, now: datetime, *, one: bool = False) -> None:
    if as_json:
        rows = [f.model_dump(mode="json") | {"status": _status(f, now)} for f in found]
        output.print_json(rows[0] if one else {"freezes": rows})
        return
    table = Table(
        "name", "status", "mutations", "states", "until", "by", "since", "ended", "reason"
    )
    for f in found:
        table.add_row(
            f.name,
            _status(f, now),
            f.mutations,
            f.states,
            _time(f.until),
            f.started_by,
            _time(f.started_at),
            f"{_time(f.ended_at)} by {f.ended_by}" if f.ended_at else "",
            f.reason,
        )
    output.console.print(table)


def _time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "never"


def show_calendar(
    conn: Connection,
    at: Annotated[str | None, typer.Option(help=f"The time to look at ({TIME_HELP}).")] = None,
    mutation: Annotated[
        str | None, typer.Option(help="With --state: may this mutation run on it at that time?")
    ] = None,
    state: Annotated[str | None, typer.Option(help="With --mutation: the state.")] = None,
    app: AppSpec = "mutator.example_app:app",
) -> None:
    """What is open or closed (now, or --at TIME): windows and freezes, each next transition.

    With --mutation and --state: whether that change may run then, what blocks it, and when
    it may next run.
    """
    try:
        when = parse_time(at, "--at") if at is not None else datetime.now(UTC)
        if (mutation is None) != (state is None):
            raise MutatorInputError("--mutation and --state: give both, or neither")
        loaded = load_app(app)
        if mutation is not None:
            loaded.get(mutation)
    except (MutatorInputError, LookupError) as exc:
        error = (
            exc if isinstance(exc, MutatorInputError) else MutatorInputError(f"--mutation: {exc}")
        )
        raise conn.fail(error) from None
    freezes = _with_store(conn, lambda store: store.freezes.list(active_at=when))
    if mutation is not None and state is not None:
        status = schedule_status(
            when,
            mutation=mutation,
            state_id=state,
            windows=loaded.windows_of(mutation),
            freezes=freezes,
        )
        _print_status(status, conn.as_json)
        return
    entries = calendar(
        when,
        windows=loaded.windows,
        mutation_windows={m.name: m.window for m in loaded.mutations.values() if m.window},
        freezes=freezes,
    )
    _print_calendar(when, entries, conn.as_json)


def _print_status(status: ScheduleStatus, as_json: bool) -> None:
    if as_json:
        output.print_json(status)
        return
    state = "open" if status.open else "closed"
    output.console.print(f"{state} at {_time(status.at)}; next open: {_time(status.next_open)}")
    for block in status.blocks:
        output.console.print(
            f"  {block.kind} {block.name}: {block.detail} (until {_time(block.until)})"
        )


def _print_calendar(when: datetime, entries: list[CalendarEntry], as_json: bool) -> None:
    if as_json:
        output.print_json(
            {"at": when.isoformat(), "entries": [e.model_dump(mode="json") for e in entries]}
        )
        return
    table = Table(
        "kind", "name", "now", "next transition", "covers", "detail", title=f"at {_time(when)}"
    )
    for e in entries:
        table.add_row(
            e.kind,
            e.name,
            "open" if e.open else "closed",
            _time(e.next_transition),
            e.covers,
            e.detail,
        )
    output.console.print(table)


def register_calendar_commands(cli: typer.Typer) -> None:
    """Add `freeze start|end|list` and `calendar` to ``cli``."""
    connected_command(freeze_cli, SCHEMA_OPTIONS, "start")(freeze_start)
    connected_command(freeze_cli, TEMPORAL_OPTIONS, "end")(freeze_end)
    connected_command(freeze_cli, SCHEMA_OPTIONS, "list")(freeze_list)
    cli.add_typer(freeze_cli, name="freeze")
    connected_command(cli, SCHEMA_OPTIONS, "calendar")(show_calendar)
