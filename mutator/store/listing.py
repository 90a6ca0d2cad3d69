"""`list` in SQL: request summaries by keyset, the columns shown and no more.

Every filter has an index that ends in (created_at, request_id), the order of the listing
(migration 0004), so a page reads ``limit`` index entries whatever the store holds and however
deep the page is. Bodies (payloads) and decisions are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
)

from mutator.listing import RequestPage, RequestSummary, encode_cursor
from mutator.store.schema import UTCDateTime, requests

SUMMARY_COLUMNS = (
    requests.c.request_id,
    requests.c.state_id,
    requests.c.mutation,
    requests.c.requester,
    requests.c.status,
    requests.c.pending_reason,
    requests.c.created_at,
    requests.c.updated_at,
)


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    state_id: str | None = None
    mutation: str | None = None
    requester: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(requests.c.status == self.status)
        if self.state_id:
            found.append(touches(requests.c.state_id, self.state_id))
        if self.mutation:
            found.append(requests.c.mutation == self.mutation)
        if self.requester:
            found.append(requests.c.requester == self.requester)
        return found


def touches(column: ColumnElement[str], state_id: str) -> ColumnElement[bool]:
    """The row's state is ``state_id``, or it is a batch whose comma-joined states include it."""
    escaped = state_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        column == state_id,
        column.like(f"{escaped},%", escape="\\"),
        column.like(f"%,{escaped}", escape="\\"),
        column.like(f"%,{escaped},%", escape="\\"),
    )


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
    where = filters.where()
    if after is not None:
        where.append(_before(after))
    return (
        select(*SUMMARY_COLUMNS)
        .where(and_(True, *where))
        .order_by(requests.c.created_at.desc(), requests.c.request_id.desc())
        .limit(limit + 1)
    )


def list_page(
    conn: Connection, filters: Filters, *, limit: int, after: tuple[datetime, str] | None
) -> RequestPage:
    rows = conn.execute(page_query(filters, limit=limit, after=after)).all()
    shown = [RequestSummary.model_validate(row._mapping) for row in rows[:limit]]
    if len(rows) <= limit:
        return RequestPage(requests=shown, remaining=0, next_cursor=None)
    # Counted only when there is a next page, over the same index range.
    where = filters.where()
    if after is not None:
        where.append(_before(after))
    counted = select(func.count()).select_from(requests).where(and_(True, *where))
    remaining = conn.execute(counted).scalar_one() - limit
    last = shown[-1]
    return RequestPage(
        requests=shown,
        remaining=remaining,
        next_cursor=encode_cursor(last.created_at, last.request_id),
    )
