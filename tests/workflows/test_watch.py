"""Watching a state end to end: requests executed by a real worker on a real dev server show
up in a watcher in version order, exactly once, on SQLite (poll) and PostgreSQL
(LISTEN/NOTIFY), and a watch resumed from the last version seen has no gap and no repeat."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.errors import MutatorInputError
from mutator.models import HistoryEntry, RequestStatus
from mutator.store import Store
from tests.helpers.workers import assert_eventually, running_mutator


class Collector:
    """Iterates a watch in a task, keeping every entry it yields."""

    def __init__(self, versions: AsyncGenerator[HistoryEntry, None]) -> None:
        self.versions = versions
        self.seen: list[HistoryEntry] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with aclosing(self.versions) as versions:
            async for entry in versions:
                self.seen.append(entry)

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def _add(client: MutatorClient, state_id: str, amount: int) -> str:
    req = await client.submit(state_id, "counter.add", {"amount": amount}, actor="alice")
    assert req.status == RequestStatus.EXECUTED, req
    return req.request_id


async def test_versions_executed_while_watching_come_in_order_exactly_once(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    state_id = f"watched-{uuid.uuid4()}"
    async with running_mutator(dev_env, store) as client:
        # The state has no version yet: the watch waits for its first.
        watcher = Collector(client.watch(state_id))
        # Another state's versions wake nothing up and never show.
        await _add(client, f"other-{uuid.uuid4()}", 1)
        one_by_one = [await _add(client, state_id, n) for n in range(1, 4)]
        # Submitted at once: the state's lane runs them one after the other.
        at_once = await asyncio.gather(*(_add(client, state_id, 10) for _ in range(4)))
        history = await client.history(state_id)
        assert len(history) == 7

        async def all_seen() -> None:
            assert len(watcher.seen) >= 7

        await assert_eventually(all_seen, timeout=30)
        await watcher.stop()
    assert [e.version for e in watcher.seen] == list(range(1, 8))
    assert watcher.seen == history
    assert [e.request_id for e in watcher.seen[:3]] == one_by_one
    assert sorted(e.request_id for e in watcher.seen[3:]) == sorted(at_once)
    assert watcher.seen[-1].data == {"value": 46}


async def test_a_watch_resumed_from_the_last_version_seen_has_no_gap_and_no_repeat(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    state_id = f"resumed-{uuid.uuid4()}"
    async with running_mutator(dev_env, store) as client:
        await _add(client, state_id, 1)
        first: list[HistoryEntry] = []
        async with aclosing(client.watch(state_id, from_version=0)) as versions:
            async for entry in versions:
                first.append(entry)
                if entry.version == 1:
                    await _add(client, state_id, 2)
                if entry.version == 2:
                    await _add(client, state_id, 3)
                    break  # disconnected at version 2; version 3 committed meanwhile
        await _add(client, state_id, 4)
        second: list[HistoryEntry] = []
        async with aclosing(client.watch(state_id, from_version=first[-1].version)) as versions:
            async for entry in versions:
                second.append(entry)
                if entry.version == 4:
                    await _add(client, state_id, 5)  # live again
                if entry.version == 5:
                    break
        history = await client.history(state_id)
    assert [e.version for e in first] == [1, 2]
    assert [e.version for e in second] == [3, 4, 5]
    assert first + second == history


async def test_from_version_zero_replays_the_history_then_follows(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    state_id = f"replayed-{uuid.uuid4()}"
    async with running_mutator(dev_env, store) as client:
        for amount in (1, 2, 3):
            await _add(client, state_id, amount)
        # Without from_version only versions committed from now on come.
        live = Collector(client.watch(state_id))
        replayed: list[HistoryEntry] = []
        async with aclosing(client.watch(state_id, from_version=0)) as versions:
            async for entry in versions:
                replayed.append(entry)
                if entry.version == 3:
                    await _add(client, state_id, 4)
                if entry.version == 4:
                    break

        async def live_saw_four() -> None:
            assert [e.version for e in live.seen] == [4]

        await assert_eventually(live_saw_four)
        await live.stop()
        assert replayed == await client.history(state_id)


async def test_bad_from_version_is_refused_naming_it(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state_id = f"refused-{uuid.uuid4()}"
    async with running_mutator(dev_env, sqlite_store) as client:
        await _add(client, state_id, 1)
        with pytest.raises(MutatorInputError, match=r"from_version: -1 is negative"):
            await anext(client.watch(state_id, from_version=-1))
        with pytest.raises(
            MutatorInputError,
            match=rf"from_version: state '{state_id}' is at version 1, there is no version 2",
        ):
            await anext(client.watch(state_id, from_version=2))
        # An unknown state is waited for, but has no version to continue from.
        with pytest.raises(MutatorInputError, match="is at version 0, there is no version 1"):
            await anext(client.watch(f"unknown-{uuid.uuid4()}", from_version=1))
        assert [e.version for e in await client.history(state_id)] == [1]
