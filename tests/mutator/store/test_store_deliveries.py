"""Webhook delivery attempts in the store, on SQLite and PostgreSQL: record and list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mutator.notifications import Delivery
from mutator.store import Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def attempt(request_id: str, n: int, *, delivered: bool = False) -> Delivery:
    return Delivery(
        event_id=f"evt-{request_id}",
        event_type="request.executed",
        request_id=request_id,
        url="https://hooks.example.com/mutator",
        attempt=n,
        status_code=200 if delivered else None,
        error="" if delivered else "connection refused",
        delivered=delivered,
        at=NOW + timedelta(seconds=n),
    )


def test_attempts_are_listed_oldest_first_and_by_request(store: Store) -> None:
    store.deliveries.record(attempt("r1", 1))
    store.deliveries.record(attempt("r2", 1, delivered=True))
    store.deliveries.record(attempt("r1", 2, delivered=True))
    assert store.deliveries.list() == [
        attempt("r1", 1),
        attempt("r2", 1, delivered=True),
        attempt("r1", 2, delivered=True),
    ]
    assert store.deliveries.list(request_id="r1") == [
        attempt("r1", 1),
        attempt("r1", 2, delivered=True),
    ]
    assert store.deliveries.list(request_id="r1")[0].at.tzinfo is not None
    assert store.deliveries.list(request_id="nobody") == []


def test_the_limit_keeps_the_newest_attempts(store: Store) -> None:
    for n in range(1, 6):
        store.deliveries.record(attempt("r1", n))
    assert [d.attempt for d in store.deliveries.list(limit=2)] == [4, 5]
