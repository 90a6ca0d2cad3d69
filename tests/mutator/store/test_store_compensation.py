"""A compensation's change and its original's ``compensated`` revision are stored in one
transaction, on SQLite and PostgreSQL: both, or neither."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mutator import lifecycle
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from tests.helpers.records import T0, executed


def _stored_original(store: Store) -> MutationRequest:
    first = executed("orig-1")
    store.apply(request=first, change=lambda _: {"value": 5}, expected_version=None)
    original = store.get_request("orig-1")
    assert original is not None
    return original


def _compensation() -> MutationRequest:
    return executed("comp-1").model_copy(
        update={"compensates": "orig-1", "compensation_mode": "restore", "requester": "carol"}
    )


def _ending(original: MutationRequest) -> Any:
    def end(final: MutationRequest) -> MutationRequest:
        ended = original.model_copy(deep=True)
        lifecycle.compensated(ended, final, T0 + timedelta(minutes=5))
        ended.revision += 1
        return ended

    return end


def test_the_original_is_compensated_with_the_change(store: Store) -> None:
    original = _stored_original(store)
    applied = store.apply(
        request=_compensation(),
        change=lambda _: {},
        expected_version=1,
        ends=_ending(original),
    )
    assert applied.resulting_version == 2
    ended = store.get_request("orig-1")
    assert ended is not None
    assert (ended.status, ended.compensated_by) == (RequestStatus.COMPENSATED, "comp-1")
    assert ended.revision == original.revision + 1
    audit = store.audit(request_id="orig-1")
    assert [d.code for d in audit] == ["submitted", "executed", "compensated"]
    assert store.verify_record().ok


def test_a_refused_end_stores_neither(store: Store) -> None:
    original = _stored_original(store)
    elsewhere = original.model_copy(update={"compensated_by": "comp-other"})
    with pytest.raises(lifecycle.IllegalTransition):
        store.apply(
            request=_compensation(),
            change=lambda _: {},
            expected_version=1,
            ends=_ending(elsewhere),
        )
    state = store.get_state("acct-1")
    assert state is not None
    assert (state.version, state.data) == (1, {"value": 5})
    assert store.get_request("comp-1") is None
    assert store.get_request("orig-1") == original
