"""The outbox: events emitted by handlers, written with their change, and handler attempts.

``outbox_rows`` builds the rows a change's transaction inserts (changes.py); ``Outbox``
(``store.outbox``) reads the events and records each attempt to run an ``@app.effect``
handler on one. Rows are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select

from mutator.effects import EffectAttempt, EffectEvent, EmittedEvent, event_id
from mutator.store.database import Database
from mutator.store.schema import effect_attempts, effects

MAX_EVENT_LIST = 10_000
# (change key, state, version the change made, the events its handler emitted)
ChangeEvents = tuple[str, str, int, Sequence[EmittedEvent]]


def outbox_rows(changes: Sequence[ChangeEvents], now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of the events of ``changes``, ids ``<change key>:<n>``, in order."""
    return [
        {
            "event_id": event_id(key, index),
            "type": event.type,
            "payload": event.payload,
            # A batch item's key is "<request id>#<item>".
            "request_id": key.partition("#")[0],
            "state_id": state_id,
            "version": version,
            "created_at": now,
        }
        for key, state_id, version, emitted in changes
        for index, event in enumerate(emitted)
    ]


class Outbox:
    """The events in the outbox and the attempts to run their handlers, through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write through ``db``."""
        self._db = db

    def events(self, *, request_id: str | None = None, limit: int = 1000) -> list[EffectEvent]:
        """The newest ``limit`` events (only ``request_id``'s), in the order they committed."""
        query = select(effects).order_by(effects.c.seq.desc())
        if request_id is not None:
            query = query.where(effects.c.request_id == request_id)
        with self._db.connect("read the outbox") as conn:
            rows = conn.execute(query.limit(min(limit, MAX_EVENT_LIST))).mappings()
            return [_event(row) for row in reversed(list(rows))]

    def event(self, event_id: str) -> EffectEvent | None:
        """The event ``event_id``; None if the outbox has none."""
        with self._db.connect("read an event") as conn:
            row = (
                conn.execute(select(effects).where(effects.c.event_id == event_id))
                .mappings()
                .one_or_none()
            )
        return _event(row) if row is not None else None

    def event_ids(self, request_id: str) -> list[str]:
        """The ids of the request's events, in order (an indexed read, without payloads)."""
        with self._db.connect("read the outbox") as conn:
            rows = conn.execute(
                select(effects.c.event_id)
                .where(effects.c.request_id == request_id)
                .order_by(effects.c.seq)
            ).scalars()
            return list(rows)

    def record_attempt(self, attempt: EffectAttempt) -> None:
        """Store one attempt to run a handler on an event."""
        values = attempt.model_dump()
        values["delivered"] = 1 if attempt.delivered else 0
        with self._db.write("record an effect attempt") as conn:
            conn.execute(insert(effect_attempts).values(**values))

    def attempts(self, event_ids: Sequence[str]) -> list[EffectAttempt]:
        """Every attempt on the events ``event_ids``, oldest first."""
        if not event_ids:
            return []
        query = (
            select(effect_attempts)
            .where(effect_attempts.c.event_id.in_(list(event_ids)))
            .order_by(effect_attempts.c.attempt_id)
        )
        with self._db.connect("read the effect attempts") as conn:
            return [_attempt(row) for row in conn.execute(query).mappings()]


def _event(row: RowMapping | Mapping[str, Any]) -> EffectEvent:
    return EffectEvent.model_validate({k: v for k, v in row.items() if k != "seq"})


def _attempt(row: RowMapping | Mapping[str, Any]) -> EffectAttempt:
    values = {k: v for k, v in row.items() if k != "attempt_id"}
    values["delivered"] = bool(values["delivered"])
    return EffectAttempt.model_validate(values)
