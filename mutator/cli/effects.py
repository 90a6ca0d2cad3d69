"""`mutator effects`: each side-effect event in the outbox and what became of it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mutator.cli import output
from mutator.cli.connection import READ_OPTIONS, Connection, connected_command
from mutator.effects import EffectAttempt, EffectRecord
from mutator.notifications import Delivery


def effects(
    conn: Connection,
    request: Annotated[str | None, typer.Option(help="Only this request's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="The newest N events.")] = 100,
) -> None:
    """Side effects: each event (id, type, request, state and version) and its deliveries.

    A delivery is each ``@app.effect`` handler's attempts and the webhook's attempts; an
    event with none was not delivered yet (or has no handler and no webhook).
    """
    found = conn.read(lambda c: c.effects(request_id=request, limit=limit))
    if conn.as_json:
        output.print_json({"effects": [r.model_dump(mode="json") for r in found]})
        return
    table = Table("event", "type", "request", "state", "payload", "deliveries")
    for r in found:
        e = r.event
        table.add_row(
            e.event_id,
            e.type,
            e.request_id,
            f"{e.state_id} v{e.version}",
            json.dumps(e.payload, separators=(",", ":"), sort_keys=True),
            "\n".join(delivery_lines(r)) or "none yet",
        )
    output.console.print(table)


def delivery_lines(record: EffectRecord) -> list[str]:
    """One line per target: the handler or ``webhook``, how it stands, its attempts."""
    handlers: dict[str, list[EffectAttempt]] = {}
    for a in record.attempts:
        handlers.setdefault(a.handler, []).append(a)
    lines = [
        _line(name, attempts[-1].delivered, len(attempts), attempts[-1].error)
        for name, attempts in handlers.items()
    ]
    if record.webhook:
        last: Delivery = record.webhook[-1]
        error = last.error or (f"HTTP {last.status_code}" if not last.delivered else "")
        lines.append(_line("webhook", last.delivered, len(record.webhook), error))
    return lines


def _line(target: str, delivered: bool, attempts: int, error: str) -> str:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if delivered:
        return f"{target}: delivered ({tries})"
    return f"{target}: not delivered yet ({tries}): {error}"


def register_effect_commands(cli: typer.Typer) -> None:
    """Add `effects` to ``cli``."""
    connected_command(cli, READ_OPTIONS, "effects")(effects)
