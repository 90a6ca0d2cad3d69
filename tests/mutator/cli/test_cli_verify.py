"""`mutator audit --verify`: a clean record exits 0 with what it checked; tampering exits 1
naming the request or state, the seq or version, and what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mutator.models import RequestStatus
from mutator.store import Store
from tests.helpers.cli_stack import CliResult, clean_env, run_mutator
from tests.helpers.records import T0, add, decision, make_request


@pytest.fixture
def recorded(db_url: str) -> str:
    """r1 and r2 executed on acct-1 (versions 1 and 2), three decisions each."""
    store = Store.from_url(db_url)
    try:
        for i in (1, 2):
            store.save_request(make_request(f"r{i}"))
            done = make_request(
                f"r{i}",
                status=RequestStatus.EXECUTED,
                revision=2,
                decisions=[
                    decision("submitted"),
                    decision("approved", T0 + timedelta(seconds=1)),
                    decision("executed", T0 + timedelta(seconds=2)),
                ],
            )
            store.apply(request=done, change=add(i), expected_version=None)
    finally:
        store.dispose()
    return db_url


def mutator(db_url: str, tmp_path: Path, *args: str) -> CliResult:
    return run_mutator(*args, "--db", db_url, env=clean_env(), cwd=tmp_path)


def tamper(db_url: str, *statements: str) -> None:
    store = Store.from_url(db_url)
    try:
        with store.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        store.dispose()


def test_a_clean_record_verifies_with_a_summary(recorded: str, tmp_path: Path) -> None:
    result = mutator(recorded, tmp_path, "audit", "--verify")
    assert result.code == 0, result
    assert "record verified: 6 decisions of 2 requests, 2 history rows of 1 states" in (
        result.stdout
    )
    as_json = mutator(recorded, tmp_path, "audit", "--verify", "--json").json()
    assert as_json == {
        "requests": 2,
        "decisions": 6,
        "states": 1,
        "history": 2,
        "problems": [],
        "signatures": "not_checked",
        "signed": 0,
        "claimed": [],
        "ok": True,
    }
    assert "signatures not checked (give --directory or --app)" in result.stdout


def test_tampering_exits_1_naming_each_row(recorded: str, tmp_path: Path) -> None:
    tamper(
        recorded,
        "UPDATE mutator_decisions SET actor = 'mallory' WHERE request_id = 'r2' AND seq = 2",
        "DELETE FROM mutator_state_history WHERE version = 1",
    )
    result = mutator(recorded, tmp_path, "audit", "--verify", "--json")
    assert result.code == 1, result
    report = result.json()
    assert report["ok"] is False
    assert [(p["chain"], p["chain_id"], p["position"], p["kind"]) for p in report["problems"]] == [
        ("decisions", "r2", 2, "edited"),
        ("history", "acct-1", 1, "deleted"),
    ]
    table = mutator(recorded, tmp_path, "audit", "--verify")
    assert table.code == 1, table
    for shown in ("r2", "seq 2", "edited", "acct-1", "version 1", "deleted", "NOT verified"):
        assert shown in table.stdout, table

    # Only the chains asked for: r1 and its state's decisions are intact, its history is not.
    assert mutator(recorded, tmp_path, "audit", "--verify", "--request", "r1").code == 0
    state = mutator(recorded, tmp_path, "audit", "--verify", "--state", "acct-1", "--json")
    assert state.code == 1, state
    assert len(state.json()["problems"]) == 2


def test_verifying_an_unknown_request_is_bad_input(recorded: str, tmp_path: Path) -> None:
    before = mutator(recorded, tmp_path, "audit", "--json").json()
    result = mutator(recorded, tmp_path, "audit", "--verify", "--request", "nope")
    assert result.code == 2, result
    assert result.stderr == "error: request_id: no request with id 'nope'\n"
    assert mutator(recorded, tmp_path, "audit", "--json").json() == before
