"""Supersede's candidates in the store, on SQLite and PostgreSQL: the older requests of one
state and mutation still ``pending`` or ``approved``, oldest first."""

from __future__ import annotations

from datetime import timedelta

from mutator.models import RequestStatus
from mutator.store import Store
from mutator.store.supersede import older_candidates
from tests.helpers.records import T0, make_request


def test_older_candidates_are_the_pending_and_approved_of_the_pair(store: Store) -> None:
    minute = timedelta(minutes=1)
    rows = [
        make_request("old-pending", created_at=T0),
        make_request("old-approved", status=RequestStatus.APPROVED, created_at=T0 + minute),
        make_request("old-executed", status=RequestStatus.EXECUTED, created_at=T0 + minute),
        make_request("old-superseded", status=RequestStatus.SUPERSEDED, created_at=T0),
        make_request("other-state", state_id="acct-2", created_at=T0),
        make_request("other-mutation", created_at=T0).model_copy(
            update={"mutation": "accounts.close"}
        ),
        make_request("same-time-a", created_at=T0 + 2 * minute),
        make_request("same-time-c", created_at=T0 + 2 * minute),
        make_request("newer", created_at=T0 + 3 * minute),
    ]
    for row in rows:
        store.save_request(row)

    def older(request_id: str, created_at: object) -> list[str]:
        return older_candidates(
            store.database,
            state_id="acct-1",
            mutation="accounts.deposit",
            created_at=created_at,  # type: ignore[arg-type]
            request_id=request_id,
        )

    # Created at the same time as two others: only the one with the smaller id is older.
    assert older("same-time-b", T0 + 2 * minute) == ["old-pending", "old-approved", "same-time-a"]
    assert older("newer", T0 + 3 * minute) == [
        "old-pending",
        "old-approved",
        "same-time-a",
        "same-time-c",
    ]
    assert older("old-pending", T0) == []
    assert older("first", T0 - minute) == []
