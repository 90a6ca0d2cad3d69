"""States and their history: reads, and changes applied by compare-and-set (changes.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from mutator.decisions import DecisionCode
from mutator.diffs import UNWRITTEN
from mutator.effects import EmittedEvent
from mutator.models import HistoryEntry, MutationRequest, StateView
from mutator.quotas import QuotaUse
from mutator.store import statements as sql
from mutator.store.changes import Finalized, KnownState, StateChange, apply_changes
from mutator.store.database import Database
from mutator.store.requests import read_request
from mutator.store.schema import state_history


class States:
    """States, their history and the changes to them, through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write states through ``db``."""
        self._db = db

    def get_state(self, state_id: str, version: int | None = None) -> StateView | None:
        """A state at its current version, or at ``version``; None when it has none."""
        with self._db.connect("read a state") as conn:
            if version is None:
                return current_state(conn, state_id)
            row = conn.execute(
                select(state_history.c.version, state_history.c.data).where(
                    state_history.c.state_id == state_id, state_history.c.version == version
                )
            ).one_or_none()
        return _state_view(state_id, row._mapping) if row is not None else None

    def current_version(self, state_id: str) -> int:
        """The state's current version (0: no mutation executed yet)."""
        state = self.get_state(state_id)
        return state.version if state else 0

    def history(self, state_id: str) -> list[HistoryEntry]:
        """Every version of the state, oldest first."""
        with self._db.connect("read a state's history") as conn:
            rows = conn.execute(
                select(state_history)
                .where(state_history.c.state_id == state_id)
                .order_by(state_history.c.version)
            ).all()
        return [HistoryEntry.model_validate(r, from_attributes=True) for r in rows]

    def history_after(self, state_id: str, after_version: int, limit: int) -> list[HistoryEntry]:
        """The state's first ``limit`` versions above ``after_version``, oldest first.

        One range of the history's primary key (state_id, version): what a watcher reads
        each time it looks for new versions, whatever the history's length.
        """
        with self._db.connect("read a state's new versions") as conn:
            rows = conn.execute(
                sql.HISTORY_AFTER,
                {"state_id": state_id, "after_version": after_version, "limit": limit},
            ).all()
        return [HistoryEntry.model_validate(r, from_attributes=True) for r in rows]

    def apply(
        self,
        *,
        request: MutationRequest,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        expected_version: int | None,
        fencing_token: int | None = None,
        claim_owner: str | None = None,
        lane_owner: str | None = None,
        known_state: KnownState | None = None,
        quota: QuotaUse | None = None,
        events: Callable[[], Sequence[EmittedEvent]] | None = None,
        ends: Callable[[MutationRequest], MutationRequest] | None = None,
    ) -> MutationRequest:
        """Apply ``change`` to the request's state exactly once, by compare-and-set.

        ``change`` runs outside any transaction (a slow handler holds no lock); one
        transaction then writes the new state, its history row, the request (status from
        ``request``, ``resulting_version`` filled in) and its new decisions, provided the
        state is still at the version ``change`` saw and ``fencing_token`` is not below the
        state's fence. A second call for the same request id returns the recorded request
        without applying anything. Raises VersionConflict when ``expected_version`` is
        given and differs, FencedOut when the token is below the fence, and
        CompareAndSetLost when another writer won the race. ``claim_owner``: the change
        runs under that owner's direct claim (token: ``fencing_token``) and consumes it;
        ``lane_owner``: the change is that owner's lane turn, and removes its lane row;
        ``known_state``: (version, data, history head) the caller read (see
        ``claim_direct_reading``); ``quota``: the slot the change takes in its transaction
        (QuotaFull when every slot is taken; store/quotas.py); ``events``: what the last run
        of ``change`` emitted, written to the outbox in the same transaction (outbox.py);
        ``ends(final)``: another request that the change ends, stored in the same transaction
        (a compensation's original).
        """
        written: list[MutationRequest] = []

        def finalize(versions: list[int]) -> list[MutationRequest]:
            final = request.model_copy(update={"resulting_version": versions[0]}, deep=True)
            for diff in (final.planned_diff, final.applied_diff):
                if diff is not None and diff.version == UNWRITTEN:
                    # Computed by the change itself, which does not know the version it read.
                    diff.version = versions[0] - 1
            if final.decisions and final.decisions[-1].code == DecisionCode.EXECUTED:
                final.decisions[
                    -1
                ].reason = f"state {request.state_id} is now at version {versions[0]}"
            written.append(final)
            return [final] if ends is None else [final, ends(final)]

        step = StateChange(
            key=request.request_id,
            state_id=request.state_id,
            actor=request.requester,
            change=change,
            expected_version=expected_version,
            fencing_token=fencing_token,
            claim_owner=claim_owner,
            lane_owner=lane_owner,
            quota=quota,
            events=events,
        )
        known = {request.state_id: known_state} if known_state is not None else None
        [version] = apply_changes(self._db, [step], finalize, known)
        if written:
            return written[0]
        # Recorded by an earlier call: return the request as it was stored with the change.
        with self._db.connect("read a request") as conn:
            stored = read_request(conn, request.request_id)
        if stored is not None and stored.resulting_version == version:
            return stored
        return request.model_copy(update={"resulting_version": version})

    def apply_changes(
        self,
        changes: Sequence[StateChange],
        finalize: Callable[[list[int]], Finalized],
    ) -> list[int]:
        """All of ``changes`` or none, in one transaction (batch items); see changes.py."""
        return apply_changes(self._db, changes, finalize)


def current_state(conn: Connection, state_id: str) -> StateView | None:
    """The state as it is now (None: never changed), read on the caller's connection."""
    row = conn.execute(sql.STATE_ROW, {"state_id": state_id}).one_or_none()
    return _state_view(state_id, row._mapping) if row is not None else None


def current_state_chained(conn: Connection, state_id: str) -> tuple[StateView | None, str | None]:
    """The state as it is now and the head of its history chain (None, None: no state)."""
    row = conn.execute(sql.STATE_ROW_CHAINED, {"state_id": state_id}).one_or_none()
    if row is None:
        return None, None
    return StateView(state_id=state_id, version=row.version, data=row.data), row.history_hash


def _state_view(state_id: str, row: RowMapping) -> StateView:
    """A state from a (version, data) row of the states or the history table."""
    return StateView(state_id=state_id, **row)
