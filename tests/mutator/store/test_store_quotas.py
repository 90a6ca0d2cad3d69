"""Quota slots in the store, on SQLite and PostgreSQL: taken in the write's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mutator.quotas import Quota, QuotaKey, QuotaUse
from mutator.store import CompareAndSetLost, QuotaFull, Store
from tests.helpers.records import add, executed, run_concurrently

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def use(
    at: datetime = NOW,
    *,
    limit: int = 2,
    key: QuotaKey = "requester",
    state_id: str = "acct-1",
) -> QuotaUse:
    quota = Quota(limit=limit, per=timedelta(hours=1), key=key)
    return quota.use("limits.set", state_id, "alice", at)


def apply(store: Store, request_id: str, quota: QuotaUse, state_id: str = "acct-1") -> int | None:
    """Apply one change with ``quota``; its resulting version, or None when the quota is full."""
    try:
        applied = store.apply(
            request=executed(request_id, state_id=state_id),
            change=add(1),
            expected_version=None,
            quota=quota,
        )
    except QuotaFull:
        return None
    return applied.resulting_version


def test_a_full_quota_refuses_the_change_and_writes_nothing(store: Store) -> None:
    assert apply(store, "r1", use()) == 1
    assert apply(store, "r2", use(NOW + timedelta(minutes=10))) == 2
    with pytest.raises(QuotaFull) as caught:
        store.apply(
            request=executed("r3"),
            change=add(1),
            expected_version=None,
            quota=use(NOW + timedelta(minutes=20)),
        )
    exceeded = caught.value.exceeded
    assert (exceeded.used, exceeded.next_slot) == (2, NOW + timedelta(hours=1))
    assert str(caught.value) == (
        "2 of 2 executions of limits.set per 1h for requester alice; next slot at "
        "2026-12-01T10:00:00+00:00"
    )
    assert store.current_version("acct-1") == 2
    assert store.get_request("r3") is None
    assert store.quotas.used(use(NOW + timedelta(minutes=20))) == 2


def test_the_window_slides_a_slot_frees_when_the_oldest_use_leaves(store: Store) -> None:
    assert apply(store, "r1", use()) == 1
    assert apply(store, "r2", use(NOW + timedelta(minutes=30))) == 2
    assert apply(store, "r3", use(NOW + timedelta(minutes=59))) is None
    # The first use left the window (it is exactly `per` old): one slot, no more.
    assert apply(store, "r4", use(NOW + timedelta(hours=1))) == 3
    assert apply(store, "r5", use(NOW + timedelta(hours=1, minutes=1))) is None
    assert store.quotas.used(use(NOW + timedelta(hours=1))) == 2


def test_each_key_value_counts_apart(store: Store) -> None:
    by_state = [use(key="state", state_id=s, limit=1) for s in ("acct-1", "acct-2")]
    assert apply(store, "r1", by_state[0], "acct-1") == 1
    assert apply(store, "r2", by_state[1], "acct-2") == 1
    assert apply(store, "r3", by_state[0], "acct-1") is None
    # Another mutation's quota on the same requester is another counter.
    other = Quota(limit=1, per=timedelta(hours=1), key="requester").use(
        "limits.other", "acct-1", "alice", NOW
    )
    assert apply(store, "r4", other, "acct-1") == 2


def test_a_lost_compare_and_set_takes_its_slot_back(store: Store) -> None:
    def racing(data: dict[str, int]) -> dict[str, int]:
        # Another writer changes the state between this change's read and its write.
        store.apply(request=executed("other"), change=add(10), expected_version=None)
        return {**data, "balance": 1}

    with pytest.raises(CompareAndSetLost):
        store.states.apply(
            request=executed("r1"), change=racing, expected_version=None, quota=use(limit=1)
        )
    assert store.quotas.used(use()) == 0
    assert apply(store, "r1", use(limit=1)) == 2


def test_a_repeated_change_takes_no_second_slot(store: Store) -> None:
    assert apply(store, "r1", use(limit=1)) == 1
    # The same request applied again (a retried activity): recorded, nothing counted.
    assert apply(store, "r1", use(limit=1)) == 1
    assert store.quotas.used(use()) == 1


@pytest.mark.parametrize("key", ["requester", "mutation"])
def test_concurrent_executions_on_many_states_never_exceed_the_limit(
    store: Store, key: QuotaKey
) -> None:
    """Many executions at once, each on its own state: exactly `limit` commit."""
    limit, count = 3, 12

    def execute(i: int) -> int | None:
        return apply(store, f"r{i}", use(limit=limit, key=key, state_id=f"acct-{i}"), f"acct-{i}")

    outcomes = run_concurrently(execute, count)
    assert sum(o is not None for o in outcomes) == limit
    assert store.quotas.used(use(limit=limit, key=key)) == limit
    executed_states = [i for i in range(count) if store.current_version(f"acct-{i}") == 1]
    assert len(executed_states) == limit
