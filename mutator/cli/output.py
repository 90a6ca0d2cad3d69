"""How the CLI prints results: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mutator import diffs
from mutator.identity.marks import RecordedDecision, identity_marks
from mutator.listing import RequestPage
from mutator.models import AuditEntry, HistoryEntry, MutationRequest, RequestStatus, StateView
from mutator.simulate_contracts import SimulateResult

console = Console()
err_console = Console(stderr=True)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """Print a model, a list of models or a dict as indented JSON on stdout."""
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [item.model_dump(mode="json") for item in value]
    print(json.dumps(data, indent=2))


def print_error(message: str, as_json: bool) -> None:
    """``{"error": ...}`` on stdout for scripts; one unwrapped line on stderr for people."""
    if as_json:
        print(json.dumps({"error": message}), flush=True)
    else:
        err_console.print(
            Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
        )


def show_request(req: MutationRequest, ui_link: str | None = None) -> None:
    """Print a request for people: its fields, then its decisions.

    Args:
        req: The request.
        ui_link: Its workflow in the Temporal UI, printed last when given.
    """
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in _request_rows(req, ui_link):
        table.add_row(key, value)
    console.print(table)
    decisions = Table("at", "category", "code", "actor", "reason", "identity", title="decisions")
    recorded = [
        RecordedDecision.of_decision(req.request_id, seq, d)
        for seq, d in enumerate(req.decisions, start=1)
    ]
    for d, mark in zip(req.decisions, identity_marks(recorded), strict=True):
        decisions.add_row(
            d.at.strftime("%H:%M:%S"), d.category.value, d.code, d.actor, d.reason, mark
        )
    console.print(decisions)


def _request_rows(req: MutationRequest, ui_link: str | None) -> list[tuple[str, str]]:
    status = req.status.value + (f" ({req.pending_reason.value})" if req.pending_reason else "")
    rows: list[tuple[str, str]] = [
        ("request", req.request_id),
        ("mutation", f"{req.mutation} on {req.state_id}"),
        ("requester", req.requester + (f" — {req.reason}" if req.reason else "")),
        ("status", status),
    ]
    if req.break_glass:
        rows.insert(4, ("BREAK-GLASS", f"declared by {req.requester}: {req.reason}"))
    if req.batch_mode is None:
        rows.insert(3, ("payload", json.dumps(req.payload)))
    else:
        rows.insert(3, ("batch", f"{req.batch_mode.value}, {len(req.items)} items"))
        rows.extend(_item_rows(req))
    rows.extend(_diff_rows(req))
    if req.rejection:
        rows.append(("rejection", f"{req.rejection.code.value}: {req.rejection.reason}"))
    if req.error:
        rows.append(("error", req.error))
    rows.extend(
        ("requires", f"{r.count} of {', '.join(r.eligible)} ({r.policy})")
        for r in req.required_approvals
    )
    rows.extend(
        (
            "requires check",
            f"{c.name}, reported by one of {', '.join(c.eligible)}"
            + (f", by {c.deadline.isoformat()}" if c.deadline else "")
            + f" ({', '.join(c.policies)})",
        )
        for c in req.required_checks
    )
    rows.extend(
        (
            "requires override",
            f"{o.policy} denies softly ({o.reason}): overridden by one of "
            + ", ".join(o.eligible)
            + (f", by {o.deadline.isoformat()}" if o.deadline else ""),
        )
        for o in req.required_overrides
    )
    rows.extend(
        (
            f"gate {g.kind.value}",
            f"{g.name}: {g.status.value}" + (f" — {g.detail}" if g.detail else ""),
        )
        for g in req.gates
    )
    optional = (
        ("approvals", ", ".join(a.actor for a in req.approvals)),
        (
            "deadline",
            req.deadline.isoformat()
            if req.deadline and req.status == RequestStatus.PENDING
            else "",
        ),
        ("not before", req.not_before.isoformat() if req.not_before else ""),
        ("scheduled for", req.scheduled_for.isoformat() if req.scheduled_for else ""),
        ("superseded by", req.superseded_by or ""),
        ("supersedes", ", ".join(req.supersedes)),
        ("compensates", f"{req.compensates} ({req.compensation_mode})" if req.compensates else ""),
        ("compensated by", req.compensated_by or ""),
        ("base version", "" if req.base_version is None else str(req.base_version)),
        ("resulting version", "" if req.resulting_version is None else str(req.resulting_version)),
        ("temporal ui", ui_link or ""),
    )
    rows.extend((key, value) for key, value in optional if value)
    return rows


def _diff_rows(req: MutationRequest) -> list[tuple[str, str]]:
    """The planned and applied diffs, one op per line (the applied one once, when the same)."""
    rows: list[tuple[str, str]] = []
    planned, applied = req.planned_diff, req.applied_diff
    if planned is not None:
        rows.append((f"planned diff (v{planned.version})", "\n".join(diffs.describe(planned))))
    if applied is not None:
        same = planned is not None and diffs.same_change(planned, applied)
        text = "as planned" if same else "\n".join(diffs.describe(applied))
        rows.append((f"applied diff (v{applied.version})", text))
    return rows


def show_simulation(result: SimulateResult, state_id: str, mutation: str) -> None:
    """Print a dry-run for people: what would happen, the change, the data after it."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "dry-run", f"{mutation} on {state_id} at version {result.state_version} (nothing stored)"
    )
    outcome = str(result.outcome) + (f": {result.reason}" if result.reason else "")
    table.add_row("outcome", outcome)
    for r in result.requirements:
        table.add_row("would wait for", f"{r.count} of {', '.join(r.eligible)} ({r.policy})")
    for o in result.overrides:
        table.add_row(
            "would wait for override", f"{o.policy}: {o.reason} ({', '.join(o.eligible)})"
        )
    for w in result.warnings:
        table.add_row("would warn", f"{w.policy}: {w.reason}")
    for c in result.checks:
        table.add_row(
            "would wait for check", f"{c.name}, reported by one of {', '.join(c.eligible)}"
        )
    if result.diff is not None:
        table.add_row("diff", "\n".join(diffs.describe(result.diff)))
    if result.data is not None:
        table.add_row("data", json.dumps(result.data))
    console.print(table)


def _item_rows(req: MutationRequest) -> list[tuple[str, str]]:
    rows = []
    for item in req.items:
        version = f" -> v{item.resulting_version}" if item.resulting_version else ""
        rows.append(
            (
                f"item {item.index}",
                f"{item.mutation} on {item.state_id} {json.dumps(item.payload)}: "
                f"{item.outcome.value}{version}" + (f" ({item.reason})" if item.reason else ""),
            )
        )
        if item.applied_diff is not None:
            rows.append((f"item {item.index} diff", "\n".join(diffs.describe(item.applied_diff))))
    return rows


LIST_COLUMNS = ("request", "state", "mutation", "requester", "status", "created")


def show_page(page: RequestPage) -> None:
    """Print a page of ``list`` as plain aligned columns.

    Not a rich table, which took seconds to lay out 10,000 rows; one request per line also
    greps whole.
    """
    rows = [
        (
            r.request_id,
            r.state_id,
            r.mutation,
            r.requester,
            r.status.value
            + (f" ({r.pending_reason.value})" if r.pending_reason else "")
            + (" BREAK-GLASS" if r.break_glass else ""),
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
        for r in page.requests
    ]
    widths = [
        max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(LIST_COLUMNS)
    ]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (LIST_COLUMNS, *rows)
    ]
    if page.next_cursor:
        lines.append(f"… {page.remaining:,} more: --after {page.next_cursor}")
    print("\n".join(lines))


def show_state(state: StateView) -> None:
    """Print a state's version and data."""
    console.print(f"[bold]{state.state_id}[/] version {state.version}")
    console.print_json(json.dumps(state.data))


def show_history(entries: Sequence[HistoryEntry]) -> None:
    """Print a state's versions as a table."""
    table = Table("version", "request", "actor", "at", "data")
    for e in entries:
        table.add_row(str(e.version), e.request_id, e.actor, e.at.isoformat(), json.dumps(e.data))
    console.print(table)


def show_audit(entries: Sequence[AuditEntry]) -> None:
    """Print decisions as a table, each person's marked claimed or signed."""
    table = Table("at", "request", "state", "category", "code", "actor", "reason", "identity")
    marks = identity_marks([RecordedDecision.of_entry(e) for e in entries])
    for e, mark in zip(entries, marks, strict=True):
        table.add_row(
            e.at.isoformat(timespec="seconds"),
            e.request_id,
            e.state_id,
            e.category.value,
            e.code,
            e.actor,
            e.reason,
            mark,
        )
    console.print(table)
