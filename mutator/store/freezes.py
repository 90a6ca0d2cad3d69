"""Freezes in the store: declare, end and list them (the rows are their audit trail)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, text, update

from mutator.errors import MutatorInputError, MutatorNotFound
from mutator.schedule.freezes import Freeze
from mutator.store.database import Database
from mutator.store.schema import freezes

# The key of the PostgreSQL advisory lock that serializes freeze writes, so that two
# `freeze start` of one name cannot both find it free (SQLite's writers are serial anyway).
_FREEZE_LOCK = 0x667265657A65
MAX_FREEZE_LIST = 10_000


class Freezes:
    """The freezes, read and written through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write the freezes through ``db``."""
        self._db = db

    def start(self, freeze: Freeze) -> Freeze:
        """Store ``freeze`` (declared at its ``started_at``).

        Raises:
            MutatorInputError: A freeze of that name is active at ``started_at``; nothing
                is stored.
        """
        with self._db.write("start a freeze") as conn:
            _lock(conn)
            active = _active_named(conn, freeze.name, freeze.started_at)
            if active is not None:
                raise MutatorInputError(
                    f"NAME: a freeze named {freeze.name!r} is already active (until "
                    f"{active.until.isoformat()}, by {active.started_by}); end it with "
                    f"`mutator freeze end {freeze.name}` or choose another name"
                )
            conn.execute(insert(freezes).values(**freeze.model_dump()))
        return freeze

    def end(self, name: str, actor: str, now: datetime) -> Freeze:
        """End the active freeze ``name`` at ``now``, recording ``actor``.

        Raises:
            MutatorNotFound: No freeze of that name is active at ``now``; nothing changes.
        """
        with self._db.write("end a freeze") as conn:
            _lock(conn)
            row = _active_row(conn, name, now)
            if row is None:
                raise MutatorNotFound(f"NAME: no active freeze named {name!r}")
            conn.execute(
                update(freezes)
                .where(freezes.c.freeze_id == row["freeze_id"])
                .values(ended_by=actor, ended_at=now)
            )
            return _freeze({**row, "ended_by": actor, "ended_at": now})

    def list(self, *, active_at: datetime | None = None, limit: int = 1000) -> list[Freeze]:
        """The newest ``limit`` freezes, newest first; only those active at ``active_at``."""
        query = select(freezes).order_by(freezes.c.started_at.desc(), freezes.c.freeze_id.desc())
        if active_at is not None:
            query = query.where(*_active_clauses(active_at))
        with self._db.connect("read the freezes") as conn:
            rows = conn.execute(query.limit(min(limit, MAX_FREEZE_LIST))).mappings()
            return [_freeze(dict(row)) for row in rows]


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FREEZE_LOCK})


def _active_clauses(at: datetime) -> tuple[Any, ...]:
    return (
        freezes.c.started_at <= at,
        freezes.c.until > at,
        or_(freezes.c.ended_at.is_(None), freezes.c.ended_at > at),
    )


def _active_row(conn: Connection, name: str, at: datetime) -> dict[str, Any] | None:
    row = (
        conn.execute(select(freezes).where(freezes.c.name == name, *_active_clauses(at)))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _active_named(conn: Connection, name: str, at: datetime) -> Freeze | None:
    row = _active_row(conn, name, at)
    return _freeze(row) if row is not None else None


def _freeze(row: Mapping[str, Any]) -> Freeze:
    return Freeze.model_validate({k: v for k, v in row.items() if k != "freeze_id"})
