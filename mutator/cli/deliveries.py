"""`mutator deliveries`: every attempt to deliver a webhook event, from the store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mutator.cli import output
from mutator.cli.connection import READ_OPTIONS, Connection, connected_command
from mutator.notifications import Delivery


def deliveries(
    conn: Connection,
    request: Annotated[str | None, typer.Option(help="Only this request's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="The newest N attempts.")] = 100,
) -> None:
    """Webhook deliveries: each attempt's event, request, URL, HTTP status or error, time."""
    found = conn.read(lambda c: c.deliveries(request_id=request, limit=limit))
    if conn.as_json:
        output.print_json({"deliveries": [d.model_dump(mode="json") for d in found]})
        return
    _print(found)


def _print(found: list[Delivery]) -> None:
    table = Table("at", "event", "type", "request", "attempt", "result", "url")
    for d in found:
        result = f"{d.status_code} delivered" if d.delivered else (d.error or "failed")
        if not d.delivered and d.status_code is not None and not d.error:
            result = f"HTTP {d.status_code}"
        table.add_row(
            d.at.isoformat(timespec="seconds"),
            d.event_id,
            d.event_type,
            d.request_id,
            str(d.attempt),
            result,
            d.url,
        )
    output.console.print(table)


def register_delivery_commands(cli: typer.Typer) -> None:
    """Add `deliveries` to ``cli``."""
    connected_command(cli, READ_OPTIONS, "deliveries")(deliveries)
