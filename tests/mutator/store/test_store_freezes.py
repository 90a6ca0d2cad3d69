"""Freezes in the store, on SQLite and PostgreSQL: start, end, list, name reuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mutator.errors import MutatorInputError, MutatorNotFound
from mutator.schedule import Freeze, new_freeze
from mutator.store import Store
from tests.helpers.records import run_concurrently

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def declared(name: str = "xmas", *, at: datetime = NOW, hours: float = 2) -> Freeze:
    return new_freeze(
        name=name,
        until=at + timedelta(hours=hours),
        reason="holidays",
        actor="ops",
        now=at,
        mutations="limits.*",
        states="acct-*",
    )


def test_a_started_freeze_is_listed_with_who_when_and_why(store: Store) -> None:
    store.freezes.start(declared())
    [stored] = store.freezes.list()
    assert stored == declared()
    assert stored.until.tzinfo is not None
    assert store.freezes.list(active_at=NOW + timedelta(hours=1)) == [declared()]
    assert store.freezes.list(active_at=NOW + timedelta(hours=2)) == []


def test_a_name_reused_while_active_is_refused_and_nothing_is_stored(store: Store) -> None:
    store.freezes.start(declared())
    with pytest.raises(MutatorInputError, match="NAME: a freeze named 'xmas' is already active"):
        store.freezes.start(declared(at=NOW + timedelta(hours=1)))
    assert store.freezes.list() == [declared()]


def test_a_name_may_be_reused_once_the_freeze_is_over(store: Store) -> None:
    store.freezes.start(declared())
    again = declared(at=NOW + timedelta(hours=3))
    store.freezes.start(again)
    assert store.freezes.list() == [again, declared()]


def test_end_records_who_ended_it_and_frees_the_name(store: Store) -> None:
    store.freezes.start(declared())
    ended = store.freezes.end("xmas", "carol", NOW + timedelta(minutes=30))
    assert (ended.ended_by, ended.ended_at) == ("carol", NOW + timedelta(minutes=30))
    assert ended.ends_at == NOW + timedelta(minutes=30)
    assert store.freezes.list() == [ended]
    assert store.freezes.list(active_at=NOW + timedelta(minutes=31)) == []
    store.freezes.start(declared(at=NOW + timedelta(minutes=31)))


def test_ending_a_freeze_that_is_not_active_is_refused(store: Store) -> None:
    with pytest.raises(MutatorNotFound, match="NAME: no active freeze named 'xmas'"):
        store.freezes.end("xmas", "carol", NOW)
    store.freezes.start(declared())
    with pytest.raises(MutatorNotFound, match="no active freeze named 'xmas'"):
        store.freezes.end("xmas", "carol", NOW + timedelta(hours=2))
    assert store.freezes.list() == [declared()]


def test_concurrent_starts_of_one_name_store_one_freeze(store: Store) -> None:
    def start(_: int) -> Freeze | MutatorInputError:
        try:
            return store.freezes.start(declared())
        except MutatorInputError as exc:
            return exc

    outcomes = run_concurrently(start, 4)
    assert sum(isinstance(o, Freeze) for o in outcomes) == 1
    assert len(store.freezes.list()) == 1
