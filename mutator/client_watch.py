"""Following a state's versions as they commit: the iterator behind ``client.watch``.

The watcher keeps the last version it yielded and only ever reads the history above it, in
version order, so each version comes out once and in order whatever wakes it (a
notification, the poll, a notification lost or doubled). Restarting with
``from_version=<last seen>`` continues exactly where an earlier watch stopped.

The waiter is ready before the first read: a version that commits between that read and
the first wait has already been announced (PostgreSQL) or is found by the next poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from mutator.errors import MutatorInputError
from mutator.models import HistoryEntry
from mutator.store import Store
from mutator.store.watch import version_waiter

# The most versions one read returns; a watcher far behind catches up in several reads.
READ_BATCH = 500


async def watch_state(
    store: Store, state_id: str, from_version: int | None = None
) -> AsyncGenerator[HistoryEntry, None]:
    """Every version of ``state_id`` above ``from_version`` (None: above the current one).

    A state with no version yet is waited for: its first mutation makes version 1.

    Raises:
        MutatorInputError: ``from_version`` is negative, or above the state's current version.
        MutatorUnavailable: The store cannot be reached, or the connection was lost (watch
            again with ``from_version`` = the last version received).
    """
    if from_version is not None and from_version < 0:
        raise MutatorInputError(f"from_version: {from_version} is negative (0 or more)")
    waiter = await version_waiter(store.engine, state_id, store.url)
    try:
        current = await asyncio.to_thread(store.current_version, state_id)
        if from_version is not None and from_version > current:
            raise MutatorInputError(
                f"from_version: state {state_id!r} is at version {current}, "
                f"there is no version {from_version} to continue from"
            )
        last = current if from_version is None else from_version
        while True:
            entries = await asyncio.to_thread(store.history_after, state_id, last, READ_BATCH)
            for entry in entries:
                last = entry.version
                yield entry
            if len(entries) < READ_BATCH:
                await waiter.wait()
    finally:
        await waiter.close()
