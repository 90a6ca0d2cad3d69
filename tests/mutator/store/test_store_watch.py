"""What a watcher reads and waits on: the history above a version, PostgreSQL's NOTIFY at
commit, the LISTEN connection's errors."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from mutator.errors import MutatorUnavailable
from mutator.store import Store
from mutator.store.watch import NotifyWaiter, PollWaiter, version_waiter
from tests.helpers.records import add, executed


def _execute(store: Store, state_id: str, amount: int = 1) -> int:
    done = store.apply(
        request=executed(f"r-{uuid.uuid4()}", state_id=state_id),
        change=add(amount),
        expected_version=None,
    )
    assert done.resulting_version is not None
    return done.resulting_version


def test_history_after_reads_the_versions_above_in_order_up_to_the_limit(store: Store) -> None:
    state_id = f"s-{uuid.uuid4()}"
    for amount in range(1, 6):
        _execute(store, state_id, amount)
    _execute(store, f"other-{uuid.uuid4()}")
    assert [e.version for e in store.history_after(state_id, 0, 100)] == [1, 2, 3, 4, 5]
    assert [e.version for e in store.history_after(state_id, 2, 2)] == [3, 4]
    assert store.history_after(state_id, 5, 100) == []
    assert store.history_after(f"unknown-{uuid.uuid4()}", 0, 100) == []
    assert store.history_after(state_id, 1, 100) == store.history(state_id)[1:]


async def test_the_waiter_fits_the_database(store: Store) -> None:
    waiter = await version_waiter(store.engine, "s", store.url)
    try:
        expected = NotifyWaiter if store.engine.dialect.name == "postgresql" else PollWaiter
        assert isinstance(waiter, expected)
    finally:
        await waiter.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_committed_version_wakes_the_listener_of_its_state(store: Store) -> None:
    state_id = f"s-{uuid.uuid4()}"
    waiter = await NotifyWaiter.listen(store.engine, state_id, store.url)
    # No safety read within the test: only the notification can end the wait.
    waiter.safety = 3600
    try:
        # Committed before the wait starts: queued on the connection, it ends the wait.
        await asyncio.to_thread(_execute, store, state_id)
        await asyncio.wait_for(waiter.wait(), timeout=30)
        # Waiting through another state's notification, it ends at the state's own.
        waiting = asyncio.create_task(waiter.wait())
        await asyncio.to_thread(_execute, store, f"other-{uuid.uuid4()}")
        await asyncio.to_thread(_execute, store, state_id)
        await asyncio.wait_for(waiting, timeout=30)
    finally:
        await waiter.close()


async def test_an_unreachable_database_is_named_when_a_watch_starts() -> None:
    store = Store.from_url("postgresql+psycopg://nobody@127.0.0.1:1/x")
    try:
        with pytest.raises(
            MutatorUnavailable, match=r"cannot reach the database .*127\.0\.0\.1:1.* state 's1'"
        ):
            await version_waiter(store.engine, "s1", store.url)
    finally:
        store.dispose()
