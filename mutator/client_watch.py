"""Following a state's versions as they commit: the iterator behind ``client.watch``.

The watcher keeps the last version it yielded and only ever reads the history above it, in
version order, so each version comes out once and in order whatever wakes it (a
notification, the poll, a notification lost or doubled). Restarting with
``from_version=<last seen>`` continues exactly where an earlier watch stopped.

The waiter is ready before the first read: a version that commits between that read and
the first wait has already been announced (PostgreSQL) or is found by the next poll. The
same holds after a lost connection: the watcher listens again, then reads above its last
version.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.models import HistoryEntry
from mutator.store import Store
from mutator.store.watch import VersionWaiter, version_waiter

# The most versions one read returns; a watcher far behind catches up in several reads.
READ_BATCH = 500
# How long a watch keeps trying to get its database back (a restart, a failover) before it
# gives up; it then names the version to resume from.
RECONNECT_SECONDS = 30.0
FIRST_RETRY_SECONDS = 0.25
LONGEST_RETRY_SECONDS = 4.0


async def watch_state(
    store: Store, state_id: str, from_version: int | None = None
) -> AsyncGenerator[HistoryEntry, None]:
    """Every version of ``state_id`` above ``from_version`` (None: above the current one).

    A state with no version yet is waited for: its first mutation makes version 1. A lost
    connection is reopened (LISTEN first, then the history above the last version yielded),
    for up to ``RECONNECT_SECONDS``.

    Raises:
        MutatorInputError: ``from_version`` is negative, or above the state's current version.
        MutatorUnavailable: The store cannot be reached, or could not be reached again
            within ``RECONNECT_SECONDS`` (watch again with ``from_version`` = the last
            version received, which the message names).
    """
    if from_version is not None and from_version < 0:
        raise MutatorInputError(f"from_version: {from_version} is negative (0 or more)")
    waiter: VersionWaiter | None = await version_waiter(store.engine, state_id, store.url)
    try:
        current = await asyncio.to_thread(store.current_version, state_id)
        if from_version is not None and from_version > current:
            raise MutatorInputError(
                f"from_version: state {state_id!r} is at version {current}, "
                f"there is no version {from_version} to continue from"
            )
        last = current if from_version is None else from_version
        outage = Outage()
        while True:
            try:
                if waiter is None:
                    waiter = await version_waiter(store.engine, state_id, store.url)
                entries = await asyncio.to_thread(store.history_after, state_id, last, READ_BATCH)
            except MutatorUnavailable as exc:
                await outage.pause_or_give_up(exc, last)
                continue
            outage.over()
            for entry in entries:
                last = entry.version
                yield entry
            if len(entries) < READ_BATCH:
                try:
                    await waiter.wait()
                except MutatorUnavailable:
                    await waiter.close()
                    waiter = None  # listen again, then read what committed meanwhile
    finally:
        if waiter is not None:
            await waiter.close()


class Outage:
    """The database is unreachable: pause before the next try, longer each time, or give up."""

    def __init__(self) -> None:
        """No outage yet."""
        self._since: float | None = None
        self._pause = FIRST_RETRY_SECONDS

    def over(self) -> None:
        """The database answered."""
        self._since, self._pause = None, FIRST_RETRY_SECONDS

    async def pause_or_give_up(self, error: MutatorUnavailable, last: int) -> None:
        """Wait before the next try, or raise when the outage has lasted too long.

        Raises:
            MutatorUnavailable: ``error``, with the version to resume from.
        """
        now = asyncio.get_running_loop().time()
        if self._since is None:
            self._since = now
        if now - self._since >= RECONNECT_SECONDS:
            raise MutatorUnavailable(
                f"{error}; gave up watching after {RECONNECT_SECONDS:g} s: the last version "
                f"received is {last}, watch again with from_version={last} "
                f"(--from-version {last})"
            ) from error
        await asyncio.sleep(self._pause)
        self._pause = min(self._pause * 2, LONGEST_RETRY_SECONDS)
