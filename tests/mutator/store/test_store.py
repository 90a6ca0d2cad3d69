"""The SQL store on SQLite and PostgreSQL: schema, compare-and-set, projections, reads."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.models import (
    Approval,
    ApprovalRequirement,
    DecisionCategory,
    MutationRequest,
    PendingReason,
    Rejection,
    RejectionCode,
    RequestStatus,
)
from mutator.store import CompareAndSetLost, ProjectionConflict, Store, VersionConflict
from tests.helpers.postgres import PostgresServer
from tests.helpers.records import (
    T0,
    add,
    assert_aware_utc,
    decision,
    executed,
    make_request,
    run_concurrently,
)

# A time with a non-UTC offset: it must come back as the same instant, in UTC.
CEST = timezone(timedelta(hours=2))
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/x"


class Boom(Exception):
    pass


def explode(_: dict[str, Any]) -> dict[str, Any]:
    raise Boom("handler failed")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def fresh_store(fresh_db_url: str) -> Iterator[Store]:
    s = Store.from_url(fresh_db_url)
    try:
        yield s
    finally:
        s.dispose()


# -- schema ----------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_keeps_data(store: Store) -> None:
    store.check_schema()
    store.apply(request=executed("r1"), change=add(5), expected_version=None)

    store.migrate()
    store.migrate()

    store.check_schema()
    current, head = store.schema_status()
    assert current == head
    assert head
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (1, {"balance": 5})


def test_check_schema_on_empty_database_asks_for_upgrade(fresh_store: Store) -> None:
    assert fresh_store.schema_status()[0] is None
    with pytest.raises(MutatorUnavailable, match="mutator db upgrade"):
        fresh_store.check_schema()
    fresh_store.migrate()
    fresh_store.check_schema()


def test_the_whole_upgrade_is_one_transaction(fresh_store: Store) -> None:
    """A concurrent upgrade waiting for the lock must never find a half-done path: before,
    Alembic committed after each migration on SQLite, and the waiting process then re-ran a
    migration the first had already applied ("table mutator_fences already exists")."""
    commits: list[object] = []
    event.listen(fresh_store.engine, "commit", commits.append)
    fresh_store.migrate()
    assert len(commits) == 1
    fresh_store.check_schema()


def test_concurrent_migrations_in_one_process(fresh_db_url: str) -> None:
    stores = [Store.from_url(fresh_db_url) for _ in range(4)]
    try:
        run_concurrently(lambda i: stores[i].migrate(), len(stores))
        for s in stores:
            s.check_schema()
    finally:
        for s in stores:
            s.dispose()


def test_concurrent_migrations_from_several_processes(fresh_db_url: str) -> None:
    code = "import sys; from mutator.store import Store; Store.from_url(sys.argv[1]).migrate()"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_db_url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for p in processes:
            _, stderr = p.communicate(timeout=60)
            assert p.returncode == 0, stderr
    finally:
        for p in processes:
            p.kill()
            p.wait()
    store = Store.from_url(fresh_db_url)
    try:
        store.check_schema()
    finally:
        store.dispose()


def test_unreachable_database_says_how_to_fix_it() -> None:
    store = Store.from_url(UNREACHABLE)
    calls: list[Callable[[], object]] = [
        store.check_schema,
        store.schema_status,
        store.migrate,
        lambda: store.get_request("r1"),
        store.list_requests,
        lambda: store.get_state("acct-1"),
        lambda: store.history("acct-1"),
        store.audit,
        store.registered_mutations,
        lambda: store.save_request(make_request("r1")),
        lambda: store.apply(request=executed("r1"), change=add(1), expected_version=None),
    ]
    try:
        for call in calls:
            with pytest.raises(MutatorUnavailable) as caught:
                call()
            message = str(caught.value)
            assert "Start the database" in message
            assert "MUTATOR_DATABASE_URL" in message
            assert "127.0.0.1" in message
    finally:
        store.dispose()


def test_plain_postgresql_urls_use_the_installed_driver() -> None:
    store = Store.from_url("postgresql://nobody@127.0.0.1:1/x")
    try:
        assert store.engine.dialect.driver == "psycopg"
        with pytest.raises(MutatorUnavailable, match="MUTATOR_DATABASE_URL"):
            store.check_schema()
    finally:
        store.dispose()


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://host/db"])
def test_bad_database_url_is_an_input_error(url: str) -> None:
    with pytest.raises(MutatorInputError):
        Store.from_url(url)


# -- apply: compare-and-set ------------------------------------------------------------------


def test_apply_creates_version_1_from_empty_state(store: Store) -> None:
    seen: list[dict[str, Any]] = []

    def change(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data)
        return {"balance": 5}

    assert store.get_state("acct-1") is None
    assert store.current_version("acct-1") == 0

    result = store.apply(request=executed("r1"), change=change, expected_version=0)

    assert seen == [{}]
    assert result.resulting_version == 1
    assert result.status is RequestStatus.EXECUTED
    assert result.decisions[-1].reason == "state acct-1 is now at version 1"
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.state_id, state.version, state.data) == ("acct-1", 1, {"balance": 5})
    assert [(h.version, h.request_id, h.actor, h.data) for h in store.history("acct-1")] == [
        (1, "r1", "alice", {"balance": 5})
    ]
    assert store.get_request("r1") == result


def test_apply_increments_the_version(store: Store) -> None:
    store.apply(request=executed("r1"), change=add(5), expected_version=None)
    second = store.apply(request=executed("r2"), change=add(3), expected_version=1)
    third = store.apply(request=executed("r3"), change=add(1), expected_version=None)

    assert (second.resulting_version, third.resulting_version) == (2, 3)
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (3, {"balance": 9})
    assert [h.version for h in store.history("acct-1")] == [1, 2, 3]


@pytest.mark.parametrize(("current", "expected"), [(0, 1), (1, 0), (1, 2)])
def test_apply_with_other_expected_version_conflicts_and_changes_nothing(
    store: Store, current: int, expected: int
) -> None:
    for i in range(current):
        store.apply(request=executed(f"r{i}"), change=add(5), expected_version=None)
    store.save_request(make_request("late"))
    before = (store.get_state("acct-1"), store.history("acct-1"), store.audit())
    calls: list[dict[str, Any]] = []

    def change(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(data)
        return {"balance": -1}

    with pytest.raises(VersionConflict) as caught:
        store.apply(request=executed("late", revision=2), change=change, expected_version=expected)

    assert (caught.value.state_id, caught.value.expected, caught.value.current) == (
        "acct-1",
        expected,
        current,
    )
    assert calls == []
    assert (store.get_state("acct-1"), store.history("acct-1"), store.audit()) == before
    assert store.get_request("late") == make_request("late")


def test_apply_is_idempotent_by_request_id(store: Store) -> None:
    calls = 0

    def change(data: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"balance": data.get("balance", 0) + 5}

    first = store.apply(request=executed("r1"), change=change, expected_version=0)
    # A retried activity: same request, and its expected version is stale by now.
    again = store.apply(request=executed("r1"), change=change, expected_version=0)
    once_more = store.apply(request=executed("r1"), change=change, expected_version=None)

    assert calls == 1
    assert again == first
    assert once_more == first
    assert [h.request_id for h in store.history("acct-1")] == ["r1"]
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (1, {"balance": 5})
    assert [e.code for e in store.audit(request_id="r1")] == ["submitted", "executed"]


@pytest.mark.parametrize("existing", [0, 2])
def test_failing_change_rolls_everything_back(store: Store, existing: int) -> None:
    for i in range(existing):
        store.apply(request=executed(f"r{i}"), change=add(5), expected_version=None)
    store.save_request(make_request("bad"))
    before = (store.get_state("acct-1"), store.history("acct-1"), store.audit())

    with pytest.raises(Boom, match="handler failed"):
        store.apply(request=executed("bad", revision=2), change=explode, expected_version=None)

    assert (store.get_state("acct-1"), store.history("acct-1"), store.audit()) == before
    assert store.get_request("bad") == make_request("bad")
    # Nothing was recorded for the request, so a later attempt applies it.
    result = store.apply(request=executed("bad", revision=2), change=add(1), expected_version=None)
    assert result.resulting_version == existing + 1


def test_projection_conflict_in_apply_rolls_back_the_state(store: Store) -> None:
    store.apply(request=executed("r1"), change=add(5), expected_version=None)
    before = (store.get_state("acct-1"), store.history("acct-1"))

    with pytest.raises(ProjectionConflict):
        store.apply(request=executed("r2", revision=3), change=add(1), expected_version=None)

    assert (store.get_state("acct-1"), store.history("acct-1")) == before
    assert store.get_request("r2") is None


def apply_retrying(store: Store, request: MutationRequest, change: Any) -> MutationRequest:
    """What the execute activity does without an expected version: retry lost races."""
    for _ in range(1000):
        try:
            return store.apply(request=request, change=change, expected_version=None)
        except CompareAndSetLost:
            continue
    raise AssertionError(f"{request.request_id} lost the compare-and-set 1000 times")


def test_concurrent_applies_yield_consecutive_versions(store: Store) -> None:
    threads, per_thread = 8, 5

    def increment(data: dict[str, Any]) -> dict[str, Any]:
        return {"n": data.get("n", 0) + 1}

    def worker(t: int) -> list[int]:
        versions = []
        for i in range(per_thread):
            result = apply_retrying(store, executed(f"r-{t}-{i}"), increment)
            assert result.resulting_version is not None
            versions.append(result.resulting_version)
        return versions

    results = run_concurrently(worker, threads)

    total = threads * per_thread
    assert sorted(v for versions in results for v in versions) == list(range(1, total + 1))
    for versions in results:
        assert versions == sorted(versions)
    history = store.history("acct-1")
    assert [h.version for h in history] == list(range(1, total + 1))
    assert [h.data for h in history] == [{"n": v} for v in range(1, total + 1)]
    assert len({h.request_id for h in history}) == total
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (total, {"n": total})
    for h in history:
        request = store.get_request(h.request_id)
        assert request is not None
        assert request.resulting_version == h.version


def test_concurrent_retries_of_one_request_apply_it_once(store: Store) -> None:
    store.apply(request=executed("r0"), change=add(100), expected_version=None)
    results = run_concurrently(lambda _: apply_retrying(store, executed("r1"), add(1)), 6)

    assert {r.resulting_version for r in results} == {2}
    assert [h.request_id for h in store.history("acct-1")] == ["r0", "r1"]
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (2, {"balance": 101})


def test_states_are_independent(store: Store) -> None:
    store.apply(request=executed("a1", state_id="a"), change=add(1), expected_version=0)
    store.apply(request=executed("b1", state_id="b"), change=add(2), expected_version=0)
    store.apply(request=executed("a2", state_id="a"), change=add(1), expected_version=1)

    assert store.current_version("a") == 2
    assert store.current_version("b") == 1
    assert [h.request_id for h in store.history("b")] == ["b1"]


# -- request projection ----------------------------------------------------------------------


def test_save_request_optimistic_concurrency(store: Store) -> None:
    first = make_request("r1")
    store.save_request(first)
    assert store.get_request("r1") == first

    # A retried write of the stored revision is a no-op, even if it differs.
    store.save_request(make_request("r1", status=RequestStatus.CANCELED))
    assert store.get_request("r1") == first

    with pytest.raises(ProjectionConflict, match="revision 3"):
        store.save_request(make_request("r1", status=RequestStatus.APPROVED, revision=3))
    assert store.get_request("r1") == first

    second = make_request(
        "r1",
        status=RequestStatus.APPROVED,
        revision=2,
        decisions=[decision("submitted"), decision("approved", T0 + timedelta(minutes=1))],
    )
    store.save_request(second)
    assert store.get_request("r1") == second

    # A late attempt of an older revision never moves the projection back.
    store.save_request(first)
    assert store.get_request("r1") == second


def test_first_revision_must_be_1(store: Store) -> None:
    with pytest.raises(ProjectionConflict):
        store.save_request(make_request("r1", revision=2))
    assert store.get_request("r1") is None
    assert store.audit(request_id="r1") == []


def test_decisions_are_appended_once(store: Store) -> None:
    d1 = decision("submitted", T0)
    d2 = decision("pending", T0 + timedelta(seconds=1), reason="needs approval")
    d3 = decision(
        "approved", T0 + timedelta(seconds=2), category=DecisionCategory.APPROVAL, actor="bob"
    )
    store.save_request(make_request("r1", decisions=[d1]))
    store.save_request(make_request("r1", decisions=[d1]))
    store.save_request(make_request("r1", revision=2, decisions=[d1, d2]))
    store.save_request(make_request("r1", revision=2, decisions=[d1, d2]))
    store.save_request(make_request("r1", revision=3, decisions=[d1, d2, d3]))
    store.save_request(make_request("r1", revision=3, decisions=[d1, d2, d3]))

    audit = store.audit(request_id="r1")
    assert [(e.seq, e.code, e.category, e.actor, e.reason) for e in audit] == [
        (1, "submitted", DecisionCategory.LIFECYCLE, "alice", ""),
        (2, "pending", DecisionCategory.LIFECYCLE, "alice", "needs approval"),
        (3, "approved", DecisionCategory.APPROVAL, "bob", ""),
    ]
    stored = store.get_request("r1")
    assert stored is not None
    assert stored.decisions == [d1, d2, d3]


def test_get_request_returns_what_was_written(store: Store) -> None:
    created = datetime(2025, 3, 1, 14, 30, 15, 123456, tzinfo=CEST)
    request = make_request(
        "r1",
        status=RequestStatus.REJECTED,
        created_at=created,
        decisions=[
            decision("submitted", created),
            decision("rejected", created + timedelta(minutes=5), actor="bob", reason="no"),
        ],
        reason="quarterly fix",
        pending_reason=PendingReason.APPROVAL,
        rejection=Rejection(code=RejectionCode.APPROVER_REJECTED, reason="no", actor="bob"),
        required_approvals=[
            ApprovalRequirement(
                policy="two-admins",
                count=2,
                roles=["admin"],
                eligible=["bob", "carol"],
                timeout_seconds=3600,
            )
        ],
        approvals=[Approval(actor="carol", comment="ok", at=created + timedelta(minutes=1))],
        expected_version=3,
        base_version=3,
        deadline=created + timedelta(hours=1),
        error=None,
    )
    store.save_request(request)

    stored = store.get_request("r1")
    assert stored == request
    assert stored is not None
    for value in (stored.created_at, stored.updated_at, stored.deadline, stored.approvals[0].at):
        assert value is not None
        assert value.tzinfo is not None
    for d in stored.decisions:
        assert_aware_utc(d.at)
    assert store.get_request("missing") is None


def test_list_requests_newest_first_with_filters(store: Store) -> None:
    written = [
        make_request("old", state_id="a", created_at=T0),
        make_request(
            "mid", state_id="b", status=RequestStatus.EXECUTED, created_at=T0 + timedelta(minutes=1)
        ),
        # Written with another offset: ordered by instant, not by wall clock.
        make_request("new", state_id="a", created_at=(T0 + timedelta(minutes=2)).astimezone(CEST)),
        make_request(
            "newest",
            state_id="a",
            status=RequestStatus.EXECUTED,
            created_at=T0 + timedelta(minutes=3),
        ),
    ]
    for r in written:
        store.save_request(r)

    def ids(**filters: Any) -> list[str]:
        return [r.request_id for r in store.list_requests(**filters)]

    assert ids() == ["newest", "new", "mid", "old"]
    assert ids(status="executed") == ["newest", "mid"]
    assert ids(status="pending") == ["new", "old"]
    assert ids(state_id="a") == ["newest", "new", "old"]
    assert ids(state_id="a", status="executed") == ["newest"]
    assert ids(state_id="c") == []
    assert ids(limit=2) == ["newest", "new"]
    assert store.list_requests() == sorted(written, key=lambda r: r.created_at, reverse=True)


def test_list_requests_by_pending_reason(store: Store) -> None:
    """``freeze end`` finds the requests waiting for their schedule by their reason."""
    later = T0 + timedelta(hours=1)
    store.save_request(make_request("votes", pending_reason=PendingReason.APPROVAL))
    store.save_request(
        make_request(
            "held",
            pending_reason=PendingReason.SCHEDULE,
            scheduled_for=later,
            not_before=later,
            created_at=T0 + timedelta(minutes=1),
        )
    )
    store.save_request(make_request("done", status=RequestStatus.EXECUTED))
    found = store.list_requests(status="pending", pending_reason="schedule")
    assert [r.request_id for r in found] == ["held"]
    assert (found[0].scheduled_for, found[0].not_before) == (later, later)
    assert store.list_requests(pending_reason="dependency") == []


def test_audit_filters_and_order(store: Store) -> None:
    store.save_request(
        make_request(
            "r1",
            state_id="a",
            decisions=[decision("submitted", T0), decision("pending", T0 + timedelta(minutes=2))],
        )
    )
    store.save_request(
        make_request(
            "r2",
            state_id="b",
            decisions=[decision("submitted", (T0 + timedelta(minutes=1)).astimezone(CEST))],
        )
    )

    everything = store.audit()
    assert [(e.request_id, e.state_id, e.seq, e.code) for e in everything] == [
        ("r1", "a", 1, "submitted"),
        ("r2", "b", 1, "submitted"),
        ("r1", "a", 2, "pending"),
    ]
    for e in everything:
        assert_aware_utc(e.at)
    assert everything[1].at == T0 + timedelta(minutes=1)
    assert [e.code for e in store.audit(state_id="a")] == ["submitted", "pending"]
    assert [e.request_id for e in store.audit(state_id="b")] == ["r2"]
    assert [e.seq for e in store.audit(request_id="r1")] == [1, 2]
    assert [e.request_id for e in store.audit(state_id="a", request_id="r2")] == []
    assert len(store.audit(limit=2)) == 2


def test_history_and_past_versions(store: Store) -> None:
    before = datetime.now(UTC)
    for i, amount in enumerate([5, 3, -2], start=1):
        store.apply(request=executed(f"r{i}"), change=add(amount), expected_version=i - 1)
    after = datetime.now(UTC)

    history = store.history("acct-1")
    assert [(h.version, h.request_id, h.actor, h.data) for h in history] == [
        (1, "r1", "alice", {"balance": 5}),
        (2, "r2", "alice", {"balance": 8}),
        (3, "r3", "alice", {"balance": 6}),
    ]
    for h in history:
        assert_aware_utc(h.at)
        assert before <= h.at <= after
    assert [h.at for h in history] == sorted(h.at for h in history)

    for h in history:
        past = store.get_state("acct-1", version=h.version)
        assert past is not None
        assert (past.state_id, past.version, past.data) == ("acct-1", h.version, h.data)
    assert store.get_state("acct-1", version=4) is None
    assert store.get_state("acct-1", version=0) is None
    assert store.history("missing") == []
    assert store.get_state("missing") is None


def test_mutation_catalog_is_replaced(store: Store) -> None:
    store.register_mutations({"b.two": "reject", "a.one": "reapprove"})
    assert store.registered_mutations() == ["a.one", "b.two"]
    store.register_mutations({"c.three": "revalidate"})
    assert store.registered_mutations() == ["c.three"]
    store.register_mutations({})
    assert store.registered_mutations() == []


@pytest.mark.postgres
def test_a_database_restart_costs_one_clear_failure_then_works(
    postgres_server: PostgresServer,
) -> None:
    """Pooled connections are not pinged before use: after a restart, the first statement
    fails with a clear, retryable error and the pool is renewed."""
    if postgres_server.bindir is None:
        pytest.skip("an external PostgreSQL (MUTATOR_TEST_POSTGRES_URL) is not ours to restart")
    private = PostgresServer.start(postgres_server.bindir)
    try:
        store = Store.from_url(private.create_database())
        store.migrate()
        store.apply(request=executed("r1"), change=add(1), expected_version=None)
        private.restart()
        with pytest.raises(MutatorUnavailable, match="lost the connection .* trying again is safe"):
            store.get_state("acct-1")
        state = store.get_state("acct-1")
        assert state is not None
        assert state.version == 1
        store.apply(request=executed("r2"), change=add(1), expected_version=None)
        assert store.current_version("acct-1") == 2
        store.dispose()
    finally:
        private.stop()
