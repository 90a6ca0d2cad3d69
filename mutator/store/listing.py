"""`list` in SQL: request summaries by keyset, the columns shown and no more.

Every filter has an index that ends in (created_at, request_id), the order of the listing
(migration 0004), so a page reads about ``limit`` index entries whatever the store holds and
however deep the page is. Bodies (payloads) and decisions are never read.

A state filter has two parts: requests on that one state (an index on state_id), and batches
that include it, whose state_id is their states comma-joined; those are found by a partial
index over batches only, so single requests never slow that part down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)

from mutator.listing import RequestPage, RequestSummary, encode_cursor
from mutator.store.schema import BATCH_ROWS, UTCDateTime, requests

SUMMARY_COLUMNS = (
    requests.c.request_id,
    requests.c.state_id,
    requests.c.mutation,
    requests.c.requester,
    requests.c.status,
    requests.c.pending_reason,
    requests.c.break_glass,
    requests.c.created_at,
    requests.c.updated_at,
)
NEWEST_FIRST = (requests.c.created_at.desc(), requests.c.request_id.desc())


@dataclass(frozen=True)
class Filters:
    """The filters of ``list``; None (or empty) matches everything."""

    status: str | None = None
    state_id: str | None = None
    mutation: str | None = None
    requester: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """Every filter but the state's."""
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(requests.c.status == self.status)
        if self.mutation:
            found.append(requests.c.mutation == self.mutation)
        if self.requester:
            found.append(requests.c.requester == self.requester)
        return found

    def branches(self) -> list[list[ColumnElement[bool]]]:
        """The WHERE of each part of the listing (two with a state filter, else one)."""
        common = self.where()
        if not self.state_id:
            return [common]
        # The partial index's own predicate, written as literally as the index has it, so
        # that both SQLite and PostgreSQL see the query is within the index.
        batches = requests.c.state_id.like(literal_column(f"'{BATCH_ROWS}'"))
        return [
            [*common, requests.c.state_id == self.state_id],
            [*common, batches, in_batch(requests.c.state_id, self.state_id)],
        ]


def in_batch(column: ColumnElement[str], state_id: str) -> ColumnElement[bool]:
    """The row is a batch whose comma-joined states include ``state_id``."""
    escaped = state_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        column.like(f"{escaped},%", escape="\\"),
        column.like(f"%,{escaped}", escape="\\"),
        column.like(f"%,{escaped},%", escape="\\"),
    )


def touches(column: ColumnElement[str], state_id: str) -> ColumnElement[bool]:
    """The row's state is ``state_id``, or it is a batch whose comma-joined states include it."""
    return or_(column == state_id, in_batch(column, state_id))


def _before(after: tuple[datetime, str]) -> ColumnElement[bool]:
    created_at, request_id = after
    # A row-value comparison: both SQLite and PostgreSQL read it as a range of the index.
    return tuple_(requests.c.created_at, requests.c.request_id) < tuple_(
        literal(created_at, UTCDateTime()), literal(request_id, requests.c.request_id.type)
    )


def page_query(
    filters: Filters, *, limit: int, after: tuple[datetime, str] | None
) -> Select[tuple[object, ...]]:
    """The summaries of one page, plus one row that says whether a next page exists."""
    keyset = [_before(after)] if after is not None else []
    parts = [
        select(*SUMMARY_COLUMNS)
        .where(and_(True, *where, *keyset))
        .order_by(*NEWEST_FIRST)
        .limit(limit + 1)
        for where in filters.branches()
    ]
    if len(parts) == 1:
        return parts[0]
    # Each part reads its own index in order; only their 2 * (limit + 1) rows are merged.
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    return (
        select(merged)
        .order_by(merged.c.created_at.desc(), merged.c.request_id.desc())
        .limit(limit + 1)
    )


def count_query(filters: Filters, after: tuple[datetime, str] | None) -> Select[Any]:
    """How many requests match ``filters`` past the keyset ``after``."""
    keyset = [_before(after)] if after is not None else []
    counts = [
        select(func.count()).select_from(requests).where(and_(True, *where, *keyset))
        for where in filters.branches()
    ]
    if len(counts) == 1:
        return counts[0]
    return select(counts[0].scalar_subquery() + counts[1].scalar_subquery())


def list_page(
    conn: Connection, filters: Filters, *, limit: int, after: tuple[datetime, str] | None
) -> RequestPage:
    """One page of summaries: the newest ``limit`` matching requests past ``after``."""
    rows = conn.execute(page_query(filters, limit=limit, after=after)).all()
    shown = [RequestSummary.model_validate(row._mapping) for row in rows[:limit]]
    if len(rows) <= limit:
        return RequestPage(requests=shown, remaining=0, next_cursor=None)
    # Counted only when there is a next page, over the same index ranges.
    remaining = int(conn.execute(count_query(filters, after)).scalar_one()) - limit
    last = shown[-1]
    return RequestPage(
        requests=shown,
        remaining=remaining,
        next_cursor=encode_cursor(last.created_at, last.request_id),
    )
