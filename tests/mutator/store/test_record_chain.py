"""The tamper-evident record on SQLite and PostgreSQL: every edit, deletion, insertion and
reordering made directly in SQL is named by the verification; an untouched store verifies."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import rfc8785
from sqlalchemy import text

from mutator.models import DecisionCategory, RequestStatus
from mutator.record import ChainKind, ProblemKind, RecordVerification
from mutator.store import CompareAndSetLost, ProjectionConflict, Store, chain
from tests.helpers.postgres import PostgresServer
from tests.helpers.records import T0, add, decision, make_request, run_concurrently

D, H = ChainKind.DECISIONS, ChainKind.HISTORY


def seed(store: Store) -> None:
    """r1..r3 on acct-1, each saved pending, then executed (decisions 1, then 2 and 3);
    acct-1 at version 3."""
    for i in (1, 2, 3):
        rid = f"r{i}"
        store.save_request(make_request(rid))
        done = make_request(
            rid,
            status=RequestStatus.EXECUTED,
            revision=2,
            decisions=[
                decision("submitted"),
                decision("approved", T0 + timedelta(seconds=1), category=DecisionCategory.APPROVAL),
                decision("executed", T0 + timedelta(seconds=2)),
            ],
        )
        store.apply(request=done, change=add(i), expected_version=None)


def found(report: RecordVerification) -> set[tuple[ChainKind, str, int, ProblemKind]]:
    return {(p.chain, p.chain_id, p.position, p.kind) for p in report.problems}


def run_sql(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_an_untouched_record_verifies(store: Store) -> None:
    seed(store)
    report = store.verify_record()
    assert report.ok, report.problems
    assert (report.requests, report.decisions, report.states, report.history) == (3, 9, 1, 3)
    assert store.verify_record(request_id="r2").decisions == 3
    assert store.verify_record(state_id="acct-1").history == 3


def test_each_row_hash_follows_the_documented_formula(store: Store) -> None:
    """A third party recomputes a row from its fields and the previous row's hash."""
    seed(store)
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, category, code, reason, row_hash "
                "FROM mutator_decisions WHERE request_id = 'r1' ORDER BY seq"
            )
        ).all()
    prev = None
    for row in rows:
        fields = {
            "request_id": "r1",
            "seq": row.seq,
            "state_id": "acct-1",
            "category": row.category,
            "code": row.code,
            "actor": "alice",
            "reason": row.reason,
            "at": f"2025-03-01T12:00:0{row.seq - 1}.000000+00:00",
        }
        start = bytes.fromhex(prev) if prev else bytes(32)
        assert row.row_hash == hashlib.sha256(start + rfc8785.dumps(fields)).hexdigest()
        prev = row.row_hash


TAMPERING = {
    "decision edited": (
        ["UPDATE mutator_decisions SET reason = 'forged' WHERE request_id = 'r2' AND seq = 2"],
        {(D, "r2", 2, ProblemKind.EDITED)},
    ),
    "decision actor edited": (
        ["UPDATE mutator_decisions SET actor = 'mallory' WHERE request_id = 'r1' AND seq = 1"],
        {(D, "r1", 1, ProblemKind.EDITED)},
    ),
    "decision deleted": (
        ["DELETE FROM mutator_decisions WHERE request_id = 'r2' AND seq = 2"],
        {(D, "r2", 2, ProblemKind.DELETED)},
    ),
    "last decision deleted": (
        ["DELETE FROM mutator_decisions WHERE request_id = 'r3' AND seq = 3"],
        {(D, "r3", 3, ProblemKind.DELETED)},
    ),
    "decisions reordered": (
        [
            "UPDATE mutator_decisions SET seq = 99 WHERE request_id = 'r2' AND seq = 2",
            "UPDATE mutator_decisions SET seq = 2 WHERE request_id = 'r2' AND seq = 3",
            "UPDATE mutator_decisions SET seq = 3 WHERE request_id = 'r2' AND seq = 99",
        ],
        {(D, "r2", 2, ProblemKind.REORDERED), (D, "r2", 3, ProblemKind.REORDERED)},
    ),
    "decision inserted in the middle": (
        [
            "UPDATE mutator_decisions SET seq = 4 WHERE request_id = 'r2' AND seq = 3",
            "INSERT INTO mutator_decisions (request_id, seq, state_id, category, code, actor, "
            "reason, at, row_hash) SELECT request_id, 3, state_id, 'approval', 'approved', "
            f"'mallory', '', at, '{'ab' * 32}' FROM mutator_decisions "
            "WHERE request_id = 'r2' AND seq = 2",
        ],
        {
            (D, "r2", 3, ProblemKind.EDITED),
            (D, "r2", 4, ProblemKind.REORDERED),
            (D, "r2", 4, ProblemKind.INSERTED),
        },
    ),
    "decision hash removed": (
        ["UPDATE mutator_decisions SET row_hash = NULL WHERE request_id = 'r1' AND seq = 2"],
        {(D, "r1", 2, ProblemKind.UNHASHED)},
    ),
    "request row deleted": (
        ["DELETE FROM mutator_requests WHERE request_id = 'r1'"],
        {(D, "r1", 0, ProblemKind.DELETED)},
    ),
    "history edited": (
        ["UPDATE mutator_state_history SET data = '{\"balance\": 1000}' WHERE version = 2"],
        {(H, "acct-1", 2, ProblemKind.EDITED)},
    ),
    "history actor edited": (
        ["UPDATE mutator_state_history SET actor = 'mallory' WHERE version = 1"],
        {(H, "acct-1", 1, ProblemKind.EDITED)},
    ),
    "history deleted": (
        ["DELETE FROM mutator_state_history WHERE version = 2"],
        {(H, "acct-1", 2, ProblemKind.DELETED)},
    ),
    "last history row deleted": (
        ["DELETE FROM mutator_state_history WHERE version = 3"],
        {(H, "acct-1", 3, ProblemKind.DELETED)},
    ),
    "history reordered": (
        [
            "UPDATE mutator_state_history SET version = 99 WHERE version = 1",
            "UPDATE mutator_state_history SET version = 1 WHERE version = 3",
            "UPDATE mutator_state_history SET version = 3 WHERE version = 99",
        ],
        {(H, "acct-1", 1, ProblemKind.REORDERED), (H, "acct-1", 3, ProblemKind.REORDERED)},
    ),
    # What the next mutation builds on, edited without a history row.
    "current state edited": (
        ["UPDATE mutator_states SET data = '{\"balance\": 1000000}' WHERE state_id = 'acct-1'"],
        {(H, "acct-1", 3, ProblemKind.EDITED)},
    ),
    "state row deleted": (
        ["DELETE FROM mutator_states WHERE state_id = 'acct-1'"],
        {(H, "acct-1", 0, ProblemKind.DELETED)},
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
def test_tampering_in_sql_is_named(store: Store, case: str) -> None:
    statements, expected = TAMPERING[case]
    seed(store)
    run_sql(store, *statements)
    report = store.verify_record()
    assert found(report) == expected
    assert not report.ok


def test_a_row_appended_with_a_correct_hash_is_an_insertion(store: Store) -> None:
    """Whoever knows the formula can chain a row; it still lies past the request's head."""
    seed(store)
    [last] = [a for a in store.audit(request_id="r1") if a.seq == 3]
    with store.engine.connect() as conn:
        prev = conn.execute(
            text("SELECT row_hash FROM mutator_decisions WHERE request_id = 'r1' AND seq = 3")
        ).scalar_one()
    row = {**last.model_dump(), "seq": 4, "code": "approved", "actor": "mallory"}
    row["category"] = last.category.value
    forged = chain.decision_hash(prev, row)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO mutator_decisions "
                "(request_id, seq, state_id, category, code, actor, reason, at, row_hash) "
                "VALUES (:request_id, :seq, :state_id, :category, :code, :actor, :reason, "
                ":at, :row_hash)"
            ),
            {**row, "row_hash": forged},
        )
    assert found(store.verify_record()) == {(D, "r1", 4, ProblemKind.INSERTED)}


def test_an_edit_with_its_hash_recomputed_is_named_by_the_next_row(store: Store) -> None:
    """The edited row fits its own hash; the next one no longer follows it, and says so."""
    seed(store)
    with store.engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM mutator_state_history WHERE version = 2"))
            .one()
            ._mapping
        )
        prev = conn.execute(
            text("SELECT row_hash FROM mutator_state_history WHERE version = 1")
        ).scalar_one()
    data = {"balance": 1000}
    at = store.history("acct-1")[1].at
    forged = chain.history_hash(prev, {**row, "data": data, "at": at})
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE mutator_state_history SET data = :data, row_hash = :h WHERE version = 2"),
            {"data": '{"balance": 1000}', "h": forged},
        )
    report = store.verify_record()
    assert found(report) == {(H, "acct-1", 3, ProblemKind.EDITED)}
    assert "or version 2 was edited and its hash recomputed" in report.problems[0].detail


def test_verification_keeps_to_the_chains_asked_for(store: Store) -> None:
    seed(store)
    store.save_request(make_request("other", state_id="acct-2"))
    run_sql(
        store,
        "UPDATE mutator_decisions SET reason = 'x' WHERE request_id = 'other'",
        "UPDATE mutator_state_history SET actor = 'x' WHERE version = 1",
    )
    assert found(store.verify_record(request_id="r1")) == set()
    assert found(store.verify_record(request_id="other")) == {(D, "other", 1, ProblemKind.EDITED)}
    assert found(store.verify_record(state_id="acct-2")) == {(D, "other", 1, ProblemKind.EDITED)}
    assert found(store.verify_record(state_id="acct-1")) == {(H, "acct-1", 1, ProblemKind.EDITED)}
    both = store.verify_record(request_id="r1", state_id="acct-1")
    assert (both.decisions, both.history) == (3, 3)


@pytest.fixture
def postgres_store_url(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database()
    store = Store.from_url(url)
    store.migrate()
    store.dispose()
    return url


@pytest.mark.postgres
def test_concurrent_writers_cannot_fork_a_chain(postgres_store_url: str) -> None:
    """Writers racing on one state, and on one request's next revision: one chain each."""
    stores = [Store.from_url(postgres_store_url) for _ in range(6)]
    stores[0].save_request(make_request("shared"))
    try:

        def write(i: int) -> bool:
            done = make_request(
                f"c{i}",
                status=RequestStatus.EXECUTED,
                decisions=[decision("submitted"), decision("executed")],
            )
            while True:
                try:
                    stores[i].apply(request=done, change=add(1), expected_version=None)
                    break
                except CompareAndSetLost:
                    continue  # another writer moved the state: apply on the new one
            revision_2 = make_request(
                "shared", revision=2, decisions=[decision("submitted"), decision(f"by-{i}")]
            )
            try:
                stores[i].save_request(revision_2)
            except ProjectionConflict:
                return False
            return True

        won = run_concurrently(write, len(stores))
        store = stores[0]
        assert [e.version for e in store.history("acct-1")] == [1, 2, 3, 4, 5, 6]
        assert [a.seq for a in store.audit(request_id="shared")] == [1, 2]
        assert sum(won) >= 1
        report = store.verify_record()
        assert report.ok, report.problems
        assert (report.history, report.states, report.requests) == (6, 1, 7)
    finally:
        for s in stores:
            s.dispose()
