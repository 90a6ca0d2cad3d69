"""Webhook deliveries in the store: one row per attempt, written by the delivery activity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select

from mutator.notifications import Delivery
from mutator.store.database import Database
from mutator.store.schema import deliveries

MAX_DELIVERY_LIST = 10_000


class Deliveries:
    """The recorded delivery attempts, read and written through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write the deliveries through ``db``."""
        self._db = db

    def record(self, delivery: Delivery) -> None:
        """Store one attempt."""
        values = delivery.model_dump()
        values["delivered"] = 1 if delivery.delivered else 0
        with self._db.write("record a webhook delivery") as conn:
            conn.execute(insert(deliveries).values(**values))

    def list(self, *, request_id: str | None = None, limit: int = 1000) -> list[Delivery]:
        """The newest ``limit`` attempts (only ``request_id``'s), oldest first."""
        query = select(deliveries).order_by(deliveries.c.delivery_id.desc())
        if request_id is not None:
            query = query.where(deliveries.c.request_id == request_id)
        with self._db.connect("read the webhook deliveries") as conn:
            rows = conn.execute(query.limit(min(limit, MAX_DELIVERY_LIST))).mappings()
            return [_delivery(dict(row)) for row in reversed(list(rows))]


def _delivery(row: Mapping[str, Any]) -> Delivery:
    values = {k: v for k, v in row.items() if k != "delivery_id"}
    values["delivered"] = bool(values["delivered"])
    return Delivery.model_validate(values)
