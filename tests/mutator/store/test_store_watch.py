"""What a watcher reads and waits on: the history above a version, PostgreSQL's NOTIFY at
commit, the LISTEN connection's errors; a watch through a database restart, and one that
gives up naming the version to resume from."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import aclosing

import pytest

from mutator import client_watch
from mutator.client_watch import watch_state
from mutator.errors import MutatorUnavailable
from mutator.store import Store
from mutator.store.watch import NotifyWaiter, PollWaiter, version_waiter
from tests.helpers.postgres import PostgresServer
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


@pytest.fixture
def private_postgres(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, to restart or stop."""
    if postgres_server.bindir is None:
        pytest.skip("an external PostgreSQL (MUTATOR_TEST_POSTGRES_URL) is not ours to restart")
    private = PostgresServer.start(postgres_server.bindir)
    try:
        yield private
    finally:
        if private.datadir is not None and private.datadir.exists():  # not stopped by the test
            private.stop()


def _execute_after_restart(store: Store, state_id: str) -> int:
    # The pool's connections died with the server: the first statement says so, and renews
    # the pool (test_store.py, test_a_database_restart_costs_one_clear_failure_then_works).
    try:
        return _execute(store, state_id)
    except MutatorUnavailable:
        return _execute(store, state_id)


@pytest.mark.postgres
async def test_a_watch_listens_again_after_a_database_restart(
    private_postgres: PostgresServer,
) -> None:
    url = private_postgres.create_database()
    writer, watched = Store.from_url(url), Store.from_url(url)
    try:
        writer.migrate()
        state_id = f"s-{uuid.uuid4()}"
        _execute(writer, state_id)
        seen: list[int] = []
        async with aclosing(watch_state(watched, state_id, from_version=0)) as versions:
            seen.append((await anext(versions)).version)
            following = asyncio.create_task(anext(versions))
            await asyncio.to_thread(private_postgres.restart)
            assert await asyncio.to_thread(_execute_after_restart, writer, state_id) == 2
            seen.append((await asyncio.wait_for(following, timeout=60)).version)
            await asyncio.to_thread(_execute, writer, state_id)
            seen.append((await asyncio.wait_for(anext(versions), timeout=60)).version)
        assert seen == [1, 2, 3]
    finally:
        writer.dispose()
        watched.dispose()


@pytest.mark.postgres
async def test_a_watch_gives_up_naming_the_version_to_resume_from(
    private_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_watch, "RECONNECT_SECONDS", 1.0)
    store = Store.from_url(private_postgres.create_database())
    try:
        store.migrate()
        state_id = f"s-{uuid.uuid4()}"
        _execute(store, state_id)
        async with aclosing(watch_state(store, state_id, from_version=0)) as versions:
            assert (await anext(versions)).version == 1
            following = asyncio.create_task(anext(versions))
            await asyncio.to_thread(private_postgres.stop)
            with pytest.raises(
                MutatorUnavailable,
                match=r"gave up watching after 1 s: the last version received is 1, "
                r"watch again with from_version=1 \(--from-version 1\)",
            ):
                await asyncio.wait_for(following, timeout=60)
    finally:
        store.dispose()
