"""Hearing that a state has a new version: PostgreSQL's LISTEN/NOTIFY, or a short poll.

Every transaction that writes versions NOTIFYs ``STATE_VERSIONS_CHANNEL`` with each state's
id (changes.py); PostgreSQL delivers it at commit, and never for a rolled-back change. A
watcher LISTENs on a connection of its own, outside the engine's pool (a pooled connection
would carry the LISTEN to its next user), and wakes on its state's id, or after a safety
interval in case a notification was lost. SQLite has no notifications: the watcher waits a
fixed, short interval between reads of the history (an index range, a few microseconds).

A waiter only says "look now"; the watcher then reads the history above the last version
it yielded, so a notification missed or doubled can delay a version, never lose or repeat
it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from mutator.errors import MutatorUnavailable
from mutator.store.statements import STATE_VERSIONS_CHANNEL

if TYPE_CHECKING:
    # Imported when a watch starts on PostgreSQL: the read commands on SQLite never pay for it.
    import psycopg

# SQLite: the pause between two reads of the history. No backoff when idle: a backoff would
# add its length to the delay of the first version after a quiet spell.
SQLITE_POLL_SECONDS = 0.2
# PostgreSQL: the longest wait without a notification before the watcher reads anyway.
POSTGRES_SAFETY_SECONDS = 5.0
# How long opening the LISTEN connection may take (the engine's own connect_timeout).
CONNECT_TIMEOUT_SECONDS = 5


class VersionWaiter(Protocol):
    """Waits until a new version of one state may have committed."""

    async def wait(self) -> None:
        """Return when it is worth reading the state's history again."""

    async def close(self) -> None:
        """Release what the waiter holds."""


class PollWaiter:
    """SQLite: a fixed pause between two reads."""

    def __init__(self, interval: float = SQLITE_POLL_SECONDS) -> None:
        """Pause ``interval`` seconds per wait."""
        self.interval = interval

    async def wait(self) -> None:
        """Sleep the interval."""
        await asyncio.sleep(self.interval)

    async def close(self) -> None:
        """Nothing to release."""


class NotifyWaiter:
    """PostgreSQL: a dedicated connection that LISTENs for the state's committed versions."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        state_id: str,
        where: str,
        safety: float = POSTGRES_SAFETY_SECONDS,
    ) -> None:
        """Wait on ``conn``, which already LISTENs (``listen`` opens one)."""
        self._conn = conn
        self._state_id = state_id
        self._where = where
        self.safety = safety

    @classmethod
    async def listen(cls, engine: Engine, state_id: str, where: str) -> NotifyWaiter:
        """Open a connection to the engine's database and LISTEN on the versions channel.

        Args:
            engine: The store's engine (its URL and driver options are used).
            state_id: The state whose notifications wake ``wait``.
            where: The database as errors name it (its URL, password hidden).

        Raises:
            MutatorUnavailable: The database cannot be reached.
        """
        import psycopg

        _, params = engine.dialect.create_connect_args(engine.url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        try:
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            await conn.execute(f"LISTEN {STATE_VERSIONS_CHANNEL}")
        except psycopg.Error as exc:
            raise MutatorUnavailable(
                f"cannot reach the database {where} to watch state {state_id!r}: {exc}"
            ) from exc
        return cls(conn, state_id, where)

    async def wait(self) -> None:
        """Return at the next notification naming the state, or after the safety interval.

        Notifications that arrived since the last wait are queued on the connection: one of
        them returns at once.

        Raises:
            MutatorUnavailable: The connection was lost.
        """
        import psycopg

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.safety
        try:
            while (remaining := deadline - loop.time()) > 0:
                async for note in self._conn.notifies(timeout=remaining, stop_after=1):
                    if note.payload == self._state_id:
                        return
        except psycopg.Error as exc:
            raise MutatorUnavailable(
                f"lost the connection to the database {self._where} while watching state "
                f"{self._state_id!r}: {exc}"
            ) from exc

    async def close(self) -> None:
        """Close the LISTEN connection (one already lost too)."""
        import psycopg

        with contextlib.suppress(psycopg.Error):
            await self._conn.close()


async def version_waiter(engine: Engine, state_id: str, where: str) -> VersionWaiter:
    """The waiter for the engine's database: LISTEN/NOTIFY on PostgreSQL, a poll on SQLite."""
    if engine.dialect.name == "postgresql":
        return await NotifyWaiter.listen(engine, state_id, where)
    return PollWaiter()
