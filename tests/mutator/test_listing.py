"""`list` in the store, on SQLite and PostgreSQL: keyset pages, filters, indexes, migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, text

from mutator.errors import MutatorInputError
from mutator.listing import RequestPage, decode_cursor, encode_cursor
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.reader import StoreReader
from mutator.store import Store
from mutator.store.listing import Filters, page_query
from mutator.store.schema import requests
from mutator.store.store import MIGRATIONS_DIR, SCHEMA_HEAD
from tests.helpers.postgres import PostgresServer
from tests.helpers.records import T0, request

LISTING_INDEXES = {
    "ix_mutator_requests_created",
    "ix_mutator_requests_status_created",
    "ix_mutator_requests_state_created",
    "ix_mutator_requests_mutation_created",
    "ix_mutator_requests_requester_created",
    "ix_mutator_requests_batches_created",
}


def seed(store: Store) -> list[MutationRequest]:
    """30 requests; several share a creation time, so request ids break the ties."""
    written = []
    for i in range(30):
        created = T0 + timedelta(seconds=i // 3)
        executed = i % 4 == 0
        r = request(
            f"r{i:02d}",
            created,
            state_id="a" if i % 2 else "b",
            mutation="limits.set" if i % 5 == 0 else "counter.add",
            requester="bob" if i % 3 == 0 else "alice",
            status=RequestStatus.EXECUTED if executed else RequestStatus.PENDING,
            pending_reason=None if executed else PendingReason.APPROVAL,
        )
        store.save_request(r)
        written.append(r)
    return sorted(written, key=lambda r: (r.created_at, r.request_id), reverse=True)


def walk(store: Store, limit: int, **filters: Any) -> tuple[list[str], list[RequestPage]]:
    pages: list[RequestPage] = []
    after = None
    while True:
        page = store.list_page(limit=limit, after=after, **filters)
        pages.append(page)
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)
    return [r.request_id for p in pages for r in p.requests], pages


def test_pages_walk_every_request_once_newest_first(store: Store) -> None:
    expected = [r.request_id for r in seed(store)]

    ids, pages = walk(store, limit=7)

    assert ids == expected
    assert [len(p.requests) for p in pages] == [7, 7, 7, 7, 2]
    assert [p.remaining for p in pages] == [23, 16, 9, 2, 0]
    assert pages[-1].next_cursor is None
    first = pages[0].requests[0]
    assert (first.request_id, first.status, first.pending_reason) == (
        "r29",
        RequestStatus.PENDING,
        PendingReason.APPROVAL,
    )
    assert first.created_at == T0 + timedelta(seconds=9)


def test_a_page_as_long_as_what_is_left_is_the_last(store: Store) -> None:
    seed(store)
    page = store.list_page(limit=30)
    assert (len(page.requests), page.remaining, page.next_cursor) == (30, 0, None)
    assert store.list_page(limit=29).remaining == 1


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "pending"},
        {"status": "executed"},
        {"state_id": "a"},
        {"mutation": "limits.set"},
        {"requester": "bob"},
        {"status": "pending", "state_id": "b", "requester": "bob"},
    ],
)
def test_filters_page_like_the_whole_list(store: Store, filters: dict[str, Any]) -> None:
    everything = seed(store)

    def matches(r: MutationRequest) -> bool:
        return all(
            str(getattr(r, "state_id" if key == "state_id" else key)) == value
            for key, value in filters.items()
        )

    expected = [r.request_id for r in everything if matches(r)]
    ids, pages = walk(store, limit=4, **filters)
    assert ids == expected
    assert pages[0].remaining == max(len(expected) - 4, 0)


def test_batches_are_listed_under_each_of_their_states(store: Store) -> None:
    written = [
        request("b-first", T0, state_id="a,b,c"),
        request("solo-a", T0 + timedelta(seconds=1), state_id="a"),
        request("b-last", T0 + timedelta(seconds=2), state_id="x,z,a"),
        request("solo-ab", T0 + timedelta(seconds=3), state_id="ab"),
        request("b-middle", T0 + timedelta(seconds=4), state_id="b,a,c"),
        request("b-like", T0 + timedelta(seconds=5), state_id="a_b,q"),
        request("solo-a2", T0 + timedelta(seconds=6), state_id="a"),
    ]
    for r in written:
        store.save_request(r)

    def ids(state_id: str, limit: int = 100) -> list[str]:
        found, _ = walk(store, limit=limit, state_id=state_id)
        return found

    expected_a = ["solo-a2", "b-middle", "b-last", "solo-a", "b-first"]
    assert ids("a") == expected_a
    # Pages merge the single requests and the batches in one order, and count both.
    assert ids("a", limit=2) == expected_a
    assert store.list_page(state_id="a", limit=2).remaining == 3
    assert ids("ab") == ["solo-ab"]
    assert ids("a_b") == ["b-like"]
    assert ids("a%") == []
    assert ids("q") == ["b-like"]


def test_a_request_created_meanwhile_does_not_shift_the_next_page(store: Store) -> None:
    expected = [r.request_id for r in seed(store)]
    first = store.list_page(limit=10)
    assert first.next_cursor is not None
    store.save_request(request("late", T0 + timedelta(hours=1)))
    second = store.list_page(limit=10, after=decode_cursor(first.next_cursor))
    assert [r.request_id for r in second.requests] == expected[10:20]


def test_a_state_filter_reads_the_state_index_and_the_batch_index(store: Store) -> None:
    for keyset in (None, (T0, "r10")):
        plan = explain(store, page_query(Filters(state_id="a"), limit=100, after=keyset))
        assert "ix_mutator_requests_state_created" in plan, plan
        assert "ix_mutator_requests_batches_created" in plan, plan
        assert "seq scan" not in plan.lower(), plan


def test_every_filter_reads_an_index_in_the_listing_order(store: Store) -> None:
    """A page is an index range: no full scan and no sort, whatever the store holds."""
    after = (T0, "r10")
    for name, filters in [
        ("ix_mutator_requests_created", Filters()),
        ("ix_mutator_requests_status_created", Filters(status="pending")),
        ("ix_mutator_requests_mutation_created", Filters(mutation="counter.add")),
        ("ix_mutator_requests_requester_created", Filters(requester="bob")),
    ]:
        for keyset in (None, after):
            plan = explain(store, page_query(filters, limit=100, after=keyset))
            assert name in plan, plan
            assert "sort" not in plan.lower(), plan
            assert "b-tree for order" not in plan.lower(), plan


def explain(store: Store, query: Any) -> str:
    with store.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        sql = str(compiled)
        if conn.dialect.name == "sqlite":
            positional = tuple(params[name] for name in compiled.positiontup or ())
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", positional)
            return "\n".join(str(r[-1]) for r in rows)
        # A small table is cheaper to scan and sort than to look up: ask for the plan of a
        # big one. A sort the index cannot spare still shows, at any cost.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.exec_driver_sql(f"SET {setting} = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {sql}", params)
        return "\n".join(str(r[0]) for r in rows)


async def test_reader_refuses_a_bad_cursor_and_limit(store: Store) -> None:
    reader = StoreReader(store)
    with pytest.raises(MutatorInputError, match="after: 'nope' is not a cursor"):
        await reader.list(after="nope")
    with pytest.raises(MutatorInputError, match="limit: 0 is not between 1 and 10000"):
        await reader.list(limit=0)
    with pytest.raises(MutatorInputError, match="status: 'bogus' is not a status"):
        await reader.list(status="bogus")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm90IGEgY3Vyc29y",  # "not a cursor"
        encode_cursor(T0, "x")[:-3],
        "MjAyNS0wMy0wMVQxMjowMDowMHx4",  # "2025-03-01T12:00:00|x": no time zone
        "w6k",  # not UTF-8 once decoded
        "é",
    ],
)
def test_a_cursor_that_was_not_printed_by_list_is_refused(cursor: str) -> None:
    with pytest.raises(MutatorInputError, match="--after: .* is not a cursor from `mutator list`"):
        decode_cursor(cursor, "--after")


def test_cursor_round_trip() -> None:
    stamp = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(stamp, "req-1|odd")) == (stamp, "req-1|odd")


def test_schema_head_is_the_newest_migration(sqlite_store: Store) -> None:
    assert sqlite_store.schema_status() == (SCHEMA_HEAD, SCHEMA_HEAD)
    newest = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))[-1]
    assert newest.startswith(SCHEMA_HEAD)


def test_upgrade_from_0003_keeps_requests_and_fills_the_pending_reason(
    fresh_db_url: str,
) -> None:
    store = Store.from_url(fresh_db_url)
    try:
        store.migrate("0003")
        # The columns of revision 0003: later migrations add the others.
        later = {"pending_reason", "decision_seq", "decision_hash", "break_glass"}
        old_columns = [c for c in requests.c if c.name not in later]
        rows = [
            request("p1", T0, pending_reason=PendingReason.SCHEDULE),
            request(
                "e1",
                T0 + timedelta(seconds=1),
                status=RequestStatus.EXECUTED,
                pending_reason=None,
            ),
        ]
        with store.engine.begin() as conn:
            for r in rows:
                values = {
                    "request_id": r.request_id,
                    "state_id": r.state_id,
                    "mutation": r.mutation,
                    "requester": r.requester,
                    "status": r.status.value,
                    "revision": r.revision,
                    "body": r.model_dump_json(exclude={"decisions"}),
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                }
                conn.execute(insert(requests).values(values).return_defaults(*old_columns))
        with pytest.raises(Exception, match="0003"):
            store.check_schema()

        store.migrate()

        store.check_schema()
        names = {ix["name"] for ix in inspect(store.engine).get_indexes("mutator_requests")}
        assert names >= LISTING_INDEXES
        assert "ix_mutator_requests_status" not in names
        page = store.list_page()
        assert [(r.request_id, r.pending_reason) for r in page.requests] == [
            ("e1", None),
            ("p1", PendingReason.SCHEDULE),
        ]
        assert [r.request_id for r in store.list_page(status="pending").requests] == ["p1"]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM mutator_requests")).scalar() == 2
    finally:
        store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
