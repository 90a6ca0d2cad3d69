"""State claims on SQLite and PostgreSQL: direct executions beside the per-state lane."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from mutator.store import DirectClaim, FencedOut, StateChange, Store
from tests.helpers.records import add, assert_aware_utc, executed, run_concurrently

LEASE = 30.0
SHORT = 0.05  # a lease that is over by the time the test looks again


def expire() -> None:
    time.sleep(SHORT * 4)


def kinds(store: Store, state_id: str) -> dict[str, str]:
    return {c.owner: c.kind for c in store.claims(state_id)}


def test_claim_on_a_free_state_takes_a_token_above_the_fence(store: Store) -> None:
    store.advance_fence("acct-1", 5)
    before = datetime.now(UTC)

    token = store.claim_direct("acct-1", "wf-a", LEASE)

    assert token == 6
    assert store.fence("acct-1") == 6
    [claim] = store.claims("acct-1")
    assert (claim.state_id, claim.owner, claim.kind, claim.token) == (
        "acct-1",
        "wf-a",
        "direct",
        6,
    )
    assert claim.expires_at is not None
    assert_aware_utc(claim.claimed_at)
    assert_aware_utc(claim.expires_at)
    assert before <= claim.claimed_at < claim.expires_at
    assert store.claim_direct("fresh", "wf-a", LEASE) == 1


def test_second_owner_gets_none(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", LEASE)
    assert token is not None

    assert store.claim_direct("acct-1", "wf-b", LEASE) is None
    assert kinds(store, "acct-1") == {"wf-a": "direct"}
    assert store.fence("acct-1") == token


def test_retry_of_the_same_owner_gets_the_same_token_and_a_longer_lease(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", 1.0)
    [first] = store.claims("acct-1")

    assert store.claim_direct("acct-1", "wf-a", LEASE) == token

    [again] = store.claims("acct-1")
    assert again.token == token
    assert first.expires_at is not None
    assert again.expires_at is not None
    assert again.expires_at > first.expires_at
    assert store.fence("acct-1") == token


def test_retry_after_a_crash_keeps_the_claim_under_a_new_token_and_fences_the_old(
    store: Store,
) -> None:
    old = store.claim_direct("acct-1", "wf-a", LEASE)
    assert old is not None

    new = store.claim_direct("acct-1", "wf-a", LEASE, fresh_token=True)

    assert new is not None
    assert new > old
    assert [(c.owner, c.kind, c.token) for c in store.claims("acct-1")] == [("wf-a", "direct", new)]
    assert store.claim_direct("acct-1", "wf-b", LEASE) is None  # nobody slips in
    assert store.fence("acct-1") == new
    # The attempt that was given up on is still running somewhere: it cannot apply.
    with pytest.raises(FencedOut, match="below the fence"):
        store.apply(
            request=executed("r1"),
            change=add(5),
            expected_version=None,
            fencing_token=old,
            claim_owner="wf-a",
        )
    assert kinds(store, "acct-1") == {"wf-a": "direct"}
    applied = store.apply(
        request=executed("r1"),
        change=add(5),
        expected_version=None,
        fencing_token=new,
        claim_owner="wf-a",
    )
    assert applied.resulting_version == 1
    assert store.claims("acct-1") == []


def test_a_lane_row_blocks_direct_claims(store: Store) -> None:
    assert store.join_lane("acct-1", "wf-lane") is None

    assert store.claim_direct("acct-1", "wf-a", LEASE) is None
    assert kinds(store, "acct-1") == {"wf-lane": "lane"}
    # Joining again keeps the one row.
    assert store.join_lane("acct-1", "wf-lane") is None
    assert kinds(store, "acct-1") == {"wf-lane": "lane"}
    # Other states are not affected.
    assert store.claim_direct("acct-2", "wf-a", LEASE) is not None


def test_join_lane_sees_the_live_claim_until_its_apply_consumes_it(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", LEASE)
    assert token is not None

    seen = store.join_lane("acct-1", "wf-lane")
    assert isinstance(seen, DirectClaim)
    assert (seen.state_id, seen.owner, seen.token) == ("acct-1", "wf-a", token)
    assert_aware_utc(seen.expires_at)
    assert store.direct_claim("acct-1") == seen
    assert kinds(store, "acct-1") == {"wf-a": "direct", "wf-lane": "lane"}

    applied = store.apply(
        request=executed("r1"),
        change=add(5),
        expected_version=None,
        fencing_token=token,
        claim_owner="wf-a",
    )

    assert applied.resulting_version == 1
    assert store.join_lane("acct-1", "wf-lane") is None
    assert store.direct_claim("acct-1") is None
    assert kinds(store, "acct-1") == {"wf-lane": "lane"}
    assert store.fence("acct-1") == token


def test_an_expired_claim_is_removed_by_join_lane_and_its_holder_is_fenced_out(
    store: Store,
) -> None:
    token = store.claim_direct("acct-1", "wf-a", SHORT)
    assert token is not None
    expire()

    assert store.join_lane("acct-1", "wf-lane") is None

    assert kinds(store, "acct-1") == {"wf-lane": "lane"}
    assert store.fence("acct-1") == token + 1
    with pytest.raises(FencedOut):
        store.apply(
            request=executed("r1"),
            change=add(5),
            expected_version=None,
            fencing_token=token,
            claim_owner="wf-a",
        )
    assert store.get_state("acct-1") is None
    assert store.get_request("r1") is None
    assert store.history("acct-1") == []


def test_direct_claim_expires_the_claim_too(store: Store) -> None:
    assert store.direct_claim("acct-1") is None
    token = store.claim_direct("acct-1", "wf-a", SHORT)
    assert token is not None
    expire()

    assert store.direct_claim("acct-1") is None

    assert store.claims("acct-1") == []
    assert store.fence("acct-1") == token + 1
    assert store.claim_direct("acct-1", "wf-b", LEASE) == token + 2


def test_a_claim_that_expires_while_its_handler_runs_applies_nothing(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", SHORT)
    assert token is not None

    def slow(data: dict[str, Any]) -> dict[str, Any]:
        expire()
        # Someone joins the lane meanwhile and takes the expired claim away.
        assert store.join_lane("acct-1", "wf-lane") is None
        return {**data, "balance": 1}

    with pytest.raises(FencedOut):
        store.apply(
            request=executed("r1"),
            change=slow,
            expected_version=None,
            fencing_token=token,
            claim_owner="wf-a",
        )
    assert store.get_state("acct-1") is None
    assert store.get_request("r1") is None
    assert kinds(store, "acct-1") == {"wf-lane": "lane"}


def test_release_direct_frees_the_state_and_fences_the_token(store: Store) -> None:
    store.release_direct("acct-1", "wf-a")  # nothing to release
    token = store.claim_direct("acct-1", "wf-a", LEASE)
    assert token is not None

    store.release_direct("acct-1", "wf-b")  # not the holder: no effect
    assert kinds(store, "acct-1") == {"wf-a": "direct"}
    store.release_direct("acct-1", "wf-a")

    assert store.claims("acct-1") == []
    assert store.direct_claim("acct-1") is None
    assert store.fence("acct-1") == token + 1
    assert store.claim_direct("acct-1", "wf-b", LEASE) == token + 2
    with pytest.raises(FencedOut):
        store.apply(
            request=executed("r1"),
            change=add(1),
            expected_version=None,
            fencing_token=token,
            claim_owner="wf-a",
        )
    assert store.get_state("acct-1") is None


def test_release_direct_keeps_lane_rows(store: Store) -> None:
    store.join_lane("acct-1", "wf-lane")
    store.release_direct("acct-1", "wf-lane")
    assert kinds(store, "acct-1") == {"wf-lane": "lane"}


def test_joining_the_lane_turns_the_owners_own_claim_into_a_lane_row(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", LEASE)
    assert token is not None

    assert store.join_lane("acct-1", "wf-a") is None

    [row] = store.claims("acct-1")
    assert (row.owner, row.kind, row.token, row.expires_at) == ("wf-a", "lane", None, None)
    assert store.fence("acct-1") == token + 1
    assert store.claim_direct("acct-1", "wf-a", LEASE) is None
    assert store.claim_direct("acct-1", "wf-b", LEASE) is None


def test_forget_lane_owners_deletes_only_the_named_owners(store: Store) -> None:
    for owner in ("wf-1", "wf-2", "wf-unseen"):
        assert store.join_lane("acct-1", owner) is None
    store.join_lane("acct-2", "wf-1")

    assert store.forget_lane_owners("acct-1", ["wf-1", "wf-2", "wf-never-joined"]) == 2

    assert kinds(store, "acct-1") == {"wf-unseen": "lane"}
    assert kinds(store, "acct-2") == {"wf-1": "lane"}
    # The owner whose join was still in flight keeps direct executions off.
    assert store.claim_direct("acct-1", "wf-a", LEASE) is None
    assert store.forget_lane_owners("acct-1", []) == 0
    assert store.forget_lane_owners("acct-1", ["wf-unseen"]) == 1
    assert store.claims("acct-1") == []
    assert store.claim_direct("acct-1", "wf-a", LEASE) is not None


def test_forget_lane_owners_keeps_direct_claims(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-a", LEASE)
    assert store.forget_lane_owners("acct-1", ["wf-a"]) == 0
    assert store.claim_direct("acct-1", "wf-a", LEASE) == token


def test_claims_lists_every_state_in_order(store: Store) -> None:
    store.join_lane("b", "wf-1")
    store.claim_direct("a", "wf-2", LEASE)
    store.join_lane("b", "wf-3")

    rows = store.claims()

    assert [(c.state_id, c.owner, c.kind) for c in rows] == [
        ("a", "wf-2", "direct"),
        ("b", "wf-1", "lane"),
        ("b", "wf-3", "lane"),
    ]
    assert [c.owner for c in store.claims("b")] == ["wf-1", "wf-3"]
    assert store.claims("none") == []


def test_a_batch_change_consumes_its_claim(store: Store) -> None:
    token = store.claim_direct("acct-1", "wf-batch", LEASE)
    assert token is not None
    changes = [
        StateChange(
            key=f"b1#{i}",
            state_id="acct-1",
            actor="alice",
            change=add(1),
            fencing_token=token,
            claim_owner="wf-batch",
        )
        for i in range(2)
    ]

    assert store.apply_changes(changes, lambda _: None) == [1, 2]

    assert store.claims("acct-1") == []


def test_concurrent_direct_claims_grant_exactly_one_token(store: Store) -> None:
    store.advance_fence("acct-1", 10)

    tokens = run_concurrently(lambda i: store.claim_direct("acct-1", f"wf-{i}", LEASE), 16)

    granted = [t for t in tokens if t is not None]
    assert granted == [11]
    [row] = store.claims("acct-1")
    assert (row.owner, row.token) == (f"wf-{tokens.index(11)}", 11)
    assert store.fence("acct-1") == 11


def test_direct_claims_and_lane_joins_never_both_win(store: Store) -> None:
    claimers, joiners = 4, 4
    for round_ in range(12):
        state_id = f"race-{round_}"

        def work(i: int, state_id: str = state_id) -> int | DirectClaim | None:
            if i < claimers:
                return store.claim_direct(state_id, f"direct-{i}", LEASE)
            return store.join_lane(state_id, f"lane-{i}")

        results = run_concurrently(work, claimers + joiners)

        tokens = [r for r in results[:claimers] if r is not None]
        seen = results[claimers:]
        assert len(tokens) <= 1
        if tokens:
            # Granted before every lane row: every joiner saw that claim.
            [token] = tokens
            assert all(isinstance(s, DirectClaim) and s.token == token for s in seen), seen
        else:
            assert seen == [None] * joiners
        assert sorted(kinds(store, state_id).values()) == sorted(
            ["direct"] * len(tokens) + ["lane"] * joiners
        )


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda s: s.claim_direct("", "wf-a", LEASE), "state_id"),
        (lambda s: s.claim_direct("acct-1", "", LEASE), "owner"),
        (lambda s: s.claim_direct("acct-1", "wf-a", 0), "lease_seconds"),
        (lambda s: s.claim_direct("acct-1", "wf-a", -1.5), "lease_seconds"),
        (lambda s: s.release_direct("", "wf-a"), "state_id"),
        (lambda s: s.release_direct("acct-1", ""), "owner"),
        (lambda s: s.join_lane("", "wf-a"), "state_id"),
        (lambda s: s.join_lane("acct-1", ""), "owner"),
        (lambda s: s.direct_claim(""), "state_id"),
        (lambda s: s.forget_lane_owners("", ["wf-a"]), "state_id"),
    ],
)
def test_bad_input_names_the_argument(store: Store, call: Any, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        call(store)
    assert store.claims() == []
    assert store.fence("acct-1") == 0


def test_claim_owner_needs_a_fencing_token() -> None:
    with pytest.raises(ValueError, match="fencing_token"):
        StateChange(key="r1", state_id="acct-1", actor="alice", change=add(1), claim_owner="wf")
