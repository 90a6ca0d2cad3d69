"""Migration 0005 on a store with rows: they are hashed in order, verify, and the chains
continue from them. Migration 0006 (decision proofs) keeps those hashes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mutator.identity.audit import SignatureAudit
from mutator.identity.directory import parse_directory
from mutator.models import Decision, DecisionCategory, RequestStatus
from mutator.record import ChainKind, ProblemKind
from mutator.store import Store
from mutator.store.database import SCHEMA_HEAD
from tests.helpers.postgres import PostgresServer
from tests.helpers.records import T0, add, decision, make_request
from tests.helpers.signed_records import make_keys, sign


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store at revision 0004 holding two requests with decisions and a state's history."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    store = Store.from_url(url)
    store.migrate("0004")
    with store.engine.begin() as conn:
        for i in (1, 2):
            r = make_request(f"old-{i}", status=RequestStatus.EXECUTED, revision=2)
            conn.execute(
                text(
                    "INSERT INTO mutator_requests (request_id, state_id, mutation, requester, "
                    "status, pending_reason, revision, body, created_at, updated_at) VALUES "
                    "(:rid, 'acct-1', 'accounts.deposit', 'alice', 'executed', NULL, 2, :body, "
                    ":at, :at)"
                ),
                {"rid": r.request_id, "body": r.model_dump_json(exclude={"decisions"}), "at": T0},
            )
            for seq, code in enumerate(["submitted", "executed"], start=1):
                conn.execute(
                    text(
                        "INSERT INTO mutator_decisions (request_id, seq, state_id, category, "
                        "code, actor, reason, at) VALUES (:rid, :seq, 'acct-1', 'lifecycle', "
                        ":code, 'alice', '', :at)"
                    ),
                    {"rid": r.request_id, "seq": seq, "code": code, "at": T0},
                )
            conn.execute(
                text(
                    "INSERT INTO mutator_state_history (state_id, version, request_id, actor, "
                    "at, data) VALUES ('acct-1', :v, :rid, 'alice', :at, :data)"
                ),
                {"v": i, "rid": r.request_id, "at": T0, "data": json.dumps({"balance": i})},
            )
        conn.execute(
            text(
                "INSERT INTO mutator_states (state_id, version, data, updated_at) "
                "VALUES ('acct-1', 2, :data, :at)"
            ),
            {"data": json.dumps({"balance": 2}), "at": T0},
        )
    try:
        yield store
    finally:
        store.dispose()


def test_upgrade_hashes_existing_rows_and_the_chains_continue(store_at_0004: Store) -> None:
    store = store_at_0004
    store.migrate()
    store.check_schema()

    report = store.verify_record()
    assert report.ok, report.problems
    assert (report.requests, report.decisions, report.states, report.history) == (2, 4, 1, 2)
    with store.engine.connect() as conn:
        unhashed = conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM mutator_decisions WHERE row_hash IS NULL) "
                "+ (SELECT COUNT(*) FROM mutator_state_history WHERE row_hash IS NULL)"
            )
        ).scalar_one()
    assert unhashed == 0

    # New rows chain onto the migrated ones: a new decision of old-1, a new version.
    later = T0 + timedelta(minutes=1)
    store.save_request(
        make_request(
            "old-1",
            status=RequestStatus.EXECUTED,
            revision=3,
            decisions=[decision("submitted"), decision("executed"), decision("noted", later)],
        )
    )
    done = make_request(
        "new-1",
        status=RequestStatus.EXECUTED,
        decisions=[decision("submitted"), decision("executed")],
    )
    store.apply(request=done, change=add(5), expected_version=2)
    assert store.get_state("acct-1").data == {"balance": 7}  # type: ignore[union-attr]
    report = store.verify_record()
    assert report.ok, report.problems
    assert (report.decisions, report.history) == (7, 3)

    with store.engine.begin() as conn:
        conn.execute(text("UPDATE mutator_decisions SET code = 'x' WHERE request_id = 'old-2'"))
    problems = {(p.chain, p.chain_id, p.position, p.kind) for p in store.verify_record().problems}
    assert problems == {
        (ChainKind.DECISIONS, "old-2", 1, ProblemKind.EDITED),
        (ChainKind.DECISIONS, "old-2", 2, ProblemKind.EDITED),
    }


def stored_hashes(store: Store) -> list[tuple[str, int, str]]:
    with store.engine.connect() as conn:
        decisions = conn.execute(
            text("SELECT request_id, seq, row_hash FROM mutator_decisions ORDER BY 1, 2")
        ).all()
        heads = conn.execute(
            text("SELECT request_id, decision_seq, decision_hash FROM mutator_requests ORDER BY 1")
        ).all()
    return [tuple(r) for r in [*decisions, *heads]]


def test_0006_keeps_the_chains_of_rows_written_before_signing(
    store_at_0004: Store, tmp_path: Path
) -> None:
    """Rows hashed at 0005 keep their hashes through 0006 (no rehash) and still verify; a
    signed decision then chains onto them, and its proof is covered by its hash."""
    store = store_at_0004
    store.migrate("0005")
    hashes = stored_hashes(store)
    assert all(h is not None for _, _, h in hashes)

    store.migrate()
    assert store.schema_status() == (SCHEMA_HEAD, SCHEMA_HEAD)
    assert stored_hashes(store) == hashes
    report = store.verify_record()
    assert report.ok, report.problems
    with store.engine.connect() as conn:
        proofs = conn.execute(
            text(
                "SELECT COUNT(*) FROM mutator_decisions WHERE proof_envelope IS NOT NULL "
                "OR proof_signature IS NOT NULL OR proof_fingerprint IS NOT NULL"
            )
        ).scalar_one()
    assert proofs == 0

    # Old decisions were never signed: with a directory they are unsigned (claimed).
    keys = make_keys(tmp_path / "keys")
    directory = parse_directory({"alice": {"roles": ["sre"], "keys": [keys.alice.public_line]}})
    required = store.verify_record(signatures=SignatureAudit(directory, required=True))
    assert {(p.chain_id, p.position, p.kind) for p in required.problems} == {
        ("old-1", 1, ProblemKind.UNSIGNED),
        ("old-2", 1, ProblemKind.UNSIGNED),
    }
    allowed = store.verify_record(signatures=SignatureAudit(directory, required=False))
    assert allowed.ok
    assert [(c.request_id, c.seq) for c in allowed.claimed] == [("old-1", 1), ("old-2", 1)]

    # A signed cancel appended to old-1 chains onto the migrated rows and verifies.
    old = store.get_request("old-1")
    assert old is not None
    proof = sign(keys.alice, old, "cancel", "alice", "done")
    later = T0 + timedelta(minutes=1)
    store.save_request(
        old.model_copy(
            update={
                "revision": 3,
                "decisions": [
                    *old.decisions,
                    Decision(
                        category=DecisionCategory.LIFECYCLE,
                        code="canceled",
                        actor="alice",
                        reason="done",
                        at=later,
                        proof=proof,
                    ),
                ],
            }
        )
    )
    report = store.verify_record(signatures=SignatureAudit(directory, required=False))
    assert report.ok, report.problems
    assert report.signed == 1
    assert set(hashes[:4]) <= set(stored_hashes(store))  # the old rows, untouched
