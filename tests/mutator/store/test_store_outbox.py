"""The outbox on SQLite and PostgreSQL: events are written in the change's transaction only.

The changes are built the way the execution builds them (``change_for`` over a registered
mutation whose handler takes ``effects``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from mutator.activities.effects import webhook_event
from mutator.activities.outcomes import HandlerChange, HandlerFailed, change_for
from mutator.app import MutationApp
from mutator.effects import EffectAttempt, Effects
from mutator.notifications import Delivery
from mutator.store import CompareAndSetLost, StateChange, Store, VersionConflict
from mutator.store.database import _alembic_config
from tests.helpers.postgres import PostgresServer
from tests.helpers.records import add, executed

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

app = MutationApp()


@app.mutation("shop.sell")
def sell(state: dict[str, Any], payload: dict[str, Any], effects: Effects) -> dict[str, Any]:
    effects.emit("stock.sold", {"sku": payload["sku"]})
    if payload.get("twice"):
        effects.emit("invoice.due", {"sku": payload["sku"], "amount": 3})
    if payload.get("explode"):
        raise RuntimeError("out of paper")
    return {**state, "sold": state.get("sold", 0) + 1}


def sell_change(**payload: Any) -> HandlerChange:
    return change_for(app.get("shop.sell"), {"sku": "A-1", **payload})


def apply(store: Store, request_id: str, change: HandlerChange, **kwargs: Any) -> int | None:
    applied = store.apply(
        request=executed(request_id),
        change=change,
        expected_version=kwargs.pop("expected_version", None),
        events=change.emitted(),
        **kwargs,
    )
    return applied.resulting_version


def test_the_events_are_stored_with_the_change_with_stable_ids(store: Store) -> None:
    assert apply(store, "r1", sell_change(twice=True)) == 1
    events = store.outbox.events(request_id="r1")
    assert [(e.event_id, e.type, e.payload, e.state_id, e.version) for e in events] == [
        ("r1:0", "stock.sold", {"sku": "A-1"}, "acct-1", 1),
        ("r1:1", "invoice.due", {"sku": "A-1", "amount": 3}, "acct-1", 1),
    ]
    assert store.outbox.event("r1:1") == events[1]
    assert store.outbox.event_ids("r1") == ["r1:0", "r1:1"]
    assert store.outbox.event_ids("nobody") == []
    assert events[0].created_at.tzinfo is not None
    # Applied again (a retried activity): recorded already, nothing written twice.
    assert apply(store, "r1", sell_change(twice=True)) == 1
    assert len(store.outbox.events()) == 2


def test_a_refused_or_failed_change_leaves_no_event(store: Store) -> None:
    with pytest.raises(HandlerFailed, match="out of paper"):
        apply(store, "r1", sell_change(explode=True))
    apply(store, "r0", change_for_add())
    with pytest.raises(VersionConflict):
        apply(store, "r2", sell_change(), expected_version=0)
    assert store.outbox.events() == []
    assert store.current_version("acct-1") == 1


def change_for_add() -> HandlerChange:
    plain = MutationApp()
    plain.mutation("counter.add")(lambda state, payload: {**state, "n": 1})
    return change_for(plain.get("counter.add"), {})


def test_a_lost_compare_and_set_writes_no_event_and_the_retry_only_its_own(
    store: Store,
) -> None:
    change = sell_change()

    def racing(data: dict[str, Any]) -> dict[str, Any]:
        # Another writer changes the state between this change's read and its write.
        store.apply(request=executed("other"), change=add(10), expected_version=None)
        return change(data)

    with pytest.raises(CompareAndSetLost):
        store.states.apply(
            request=executed("r1"), change=racing, expected_version=None, events=change.events
        )
    assert store.outbox.events() == []
    assert apply(store, "r1", change) == 2
    assert [e.event_id for e in store.outbox.events()] == ["r1:0"]


def test_a_batch_items_events_carry_the_item_key(store: Store) -> None:
    first, second = sell_change(), sell_change(twice=True)
    store.apply_changes(
        [
            StateChange(
                key="b1#0", state_id="s-1", actor="alice", change=first, events=first.emitted()
            ),
            StateChange(
                key="b1#1", state_id="s-2", actor="alice", change=second, events=second.emitted()
            ),
        ],
        lambda versions: None,
    )
    events = store.outbox.events(request_id="b1")
    assert [(e.event_id, e.state_id) for e in events] == [
        ("b1#0:0", "s-1"),
        ("b1#1:0", "s-2"),
        ("b1#1:1", "s-2"),
    ]


def test_a_plain_handler_writes_nothing_to_the_outbox(store: Store) -> None:
    change = change_for_add()
    assert change.emitted() is None
    assert apply(store, "r1", change) == 1
    assert store.outbox.events() == []


def test_attempts_are_recorded_per_event_oldest_first(store: Store) -> None:
    def attempt(event_id: str, n: int, error: str = "") -> EffectAttempt:
        return EffectAttempt(
            event_id=event_id, handler="h.f", attempt=n, delivered=not error, error=error, at=NOW
        )

    store.outbox.record_attempt(attempt("r1:0", 1, "boom"))
    store.outbox.record_attempt(attempt("r2:0", 1))
    store.outbox.record_attempt(attempt("r1:0", 2))
    assert store.outbox.attempts(["r1:0"]) == [attempt("r1:0", 1, "boom"), attempt("r1:0", 2)]
    assert store.outbox.attempts([]) == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url_at_0009(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


def test_migration_0010_adds_and_drops_the_outbox(url_at_0009: str) -> None:
    store = Store.from_url(url_at_0009)
    try:
        store.migrate("0009")
        assert "mutator_effects" not in inspect(store.engine).get_table_names()
        store.migrate("0010")
        tables = inspect(store.engine).get_table_names()
        assert {"mutator_effects", "mutator_effect_attempts"} <= set(tables)
        assert apply(store, "r1", sell_change()) == 1
        assert [e.event_id for e in store.outbox.events()] == ["r1:0"]
        with store.engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0009")
        assert "mutator_effects" not in inspect(store.engine).get_table_names()
    finally:
        store.dispose()


def test_the_longest_event_id_is_stored_and_its_webhook_attempts_too(store: Store) -> None:
    request_id = "r" * 200
    store.apply_changes(
        [
            StateChange(
                key=request_id,
                state_id="s-1",
                actor="alice",
                change=(change := sell_change()),
                events=change.emitted(),
            )
        ],
        lambda versions: None,
    )
    [event] = store.outbox.events(request_id=request_id)
    assert event.event_id == f"{request_id}:0"
    webhook = webhook_event(event)
    assert (webhook.id, webhook.type) == (event.event_id, "effect.stock.sold")
    store.deliveries.record(
        Delivery(
            event_id=webhook.id,
            event_type=webhook.type,
            request_id=request_id,
            url="https://hooks.example.com/x",
            attempt=1,
            delivered=True,
            at=NOW,
        )
    )
    assert [d.event_id for d in store.deliveries.list(request_id=request_id)] == [webhook.id]
    assert webhook_event(event.model_copy(update={"type": "t" * 90})).type == "effect." + "t" * 90
