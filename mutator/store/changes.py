"""Applying changes to states exactly once: compare-and-set, fencing, one transaction.

Handlers run outside any transaction (a slow handler holds no lock). One write transaction
then checks every state is still at the version its handler saw and every fencing token is
not below its state's fence, and writes the new states, one history row per change, the
events the handlers emitted (the outbox, outbox.py) and, when given, the request; on
PostgreSQL it also NOTIFYs the watchers of each state changed (store/watch.py). A change
already recorded (by its history key) is never applied again.

A change made under a direct claim (``claim_owner``, see claims.py) consumes that claim in the
same transaction; a claim already gone (expired, released) refuses the change as FencedOut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from mutator.effects import EmittedEvent
from mutator.models import MutationRequest
from mutator.quotas import QuotaUse
from mutator.store import chain
from mutator.store import statements as sql
from mutator.store.database import Database
from mutator.store.fences import FencedOut, check_fence, raise_fence, read_fence
from mutator.store.outbox import outbox_rows
from mutator.store.quotas import take_slot
from mutator.store.requests import write_request
from mutator.store.schema import ClaimKind, state_history
from mutator.store.schema import effects as outbox

StateData = dict[str, Any]
# A state as a caller read it: (version, data, head of its history chain); (0, {}, None):
# no state yet.
KnownState = tuple[int, StateData, str | None]


class VersionConflict(Exception):
    """The state's version is not the one the caller expected."""

    def __init__(self, state_id: str, expected: int, current: int, index: int = 0) -> None:
        """Say which state moved past which version.

        Args:
            state_id: The state.
            expected: The version the caller expected.
            current: The version the state is at.
            index: The batch item the change belongs to (0 for a single request).
        """
        super().__init__(
            f"state {state_id!r} is at version {current}, the request expected {expected}"
        )
        self.state_id = state_id
        self.expected = expected
        self.current = current
        self.index = index


class CompareAndSetLost(Exception):
    """Another writer changed the state between read and write; retry on the new state."""


@dataclass(frozen=True)
class StateChange:
    """One change to apply to one state, as part of ``apply_changes``.

    Attributes:
        key: The history row's request id: ``<request id>`` or ``<request id>#<item>``; a
            key already recorded means the change applied before (a retry).
        state_id: The state.
        actor: Who requested the change.
        change: The new state from the current one.
        expected_version: The version the state must be at, if any.
        fencing_token: The lease's token, checked against the state's fence.
    """

    key: str  # the history row's request id: "<request id>" or "<request id>#<item>"
    state_id: str
    actor: str
    change: Callable[[StateData], StateData]
    expected_version: int | None = None
    fencing_token: int | None = None
    # The owner of the direct claim (claims.py) this change executes under: the change
    # consumes the claim, and needs the claim's token as ``fencing_token``.
    claim_owner: str | None = None
    # The owner whose lane turn this change is: its lane row goes with the change, so direct
    # executions may resume as soon as the lane has nobody else.
    lane_owner: str | None = None
    # The quota slot the change takes in its transaction (store/quotas.py); None: no quota.
    quota: QuotaUse | None = None
    # The events the last run of ``change`` emitted (mutator/effects.py), written to the
    # outbox with the change; None: its handler emits none.
    events: Callable[[], Sequence[EmittedEvent]] | None = None

    def __post_init__(self) -> None:
        """Refuse a claim owner without its token.

        Raises:
            ValueError: ``claim_owner`` is set without ``fencing_token``.
        """
        if self.claim_owner is not None and self.fencing_token is None:
            raise ValueError("claim_owner needs the direct claim's token as fencing_token")


@dataclass
class _Slot:
    """One state as the changes see it: what was read, and where the changes took it."""

    read_version: int
    exists: bool
    version: int
    data: StateData
    # The head of the state's history chain as read (None: no history yet); the
    # compare-and-set on read_version proves it is still the head when the change writes.
    head: str | None = None


def recorded_version(conn: Connection, key: str, state_id: str) -> int | None:
    """The version the change ``key`` made of ``state_id``, if it applied before."""
    version: int | None = conn.execute(
        select(state_history.c.version).where(
            state_history.c.request_id == key, state_history.c.state_id == state_id
        )
    ).scalar_one_or_none()
    return version


# What ``finalize`` stores with the changes: the request, and any request it ends with them
# (a compensation's original, mutator.lifecycle.compensation); None: nothing.
Finalized = MutationRequest | Sequence[MutationRequest] | None


def apply_changes(
    db: Database,
    changes: Sequence[StateChange],
    finalize: Callable[[list[int]], Finalized],
    known: dict[str, KnownState] | None = None,
) -> list[int]:
    """Apply ``changes`` in order, all or none; returns each change's resulting version.

    ``finalize(versions)`` returns the request (or requests) to store in the same
    transaction, or None.
    If every change is already recorded, returns the recorded versions and writes nothing.
    ``known``: (version, data, history head) of every state, read by the caller (version 0:
    no state); saves the read transaction. The write transaction checks them like its own reads; a
    change recorded meanwhile then surfaces as CompareAndSetLost.
    """
    if known is not None and all(c.state_id in known for c in changes):
        slots = {
            state_id: _Slot(read_version=v, exists=v > 0, version=v, data=dict(data), head=head)
            for state_id, (v, data, head) in known.items()
        }
    else:
        read = _read_before_writing(db, changes)
        if isinstance(read, list):
            return read
        slots = read
    results = _run_handlers(changes, slots)
    versions = [version for version, _ in results]
    with db.write("apply a change") as conn:
        _check_unrecorded_and_fenced(conn, changes)
        for c in changes:
            if c.quota is not None:
                take_slot(conn, c.quota, c.key)
        _write_changes(conn, changes, slots, results)
        finalized = finalize(versions)
        written = [finalized] if isinstance(finalized, MutationRequest) else finalized or []
        for request in written:
            write_request(conn, request)
        _consume_claims(conn, changes)
    return versions


def _read_before_writing(
    db: Database, changes: Sequence[StateChange]
) -> list[int] | dict[str, _Slot]:
    """The recorded versions when every change applied before; else the states as read."""
    with db.connect("apply a change") as conn:
        recorded = [recorded_version(conn, c.key, c.state_id) for c in changes]
        if all(v is not None for v in recorded):
            return [v for v in recorded if v is not None]
        slots = _read_slots(conn, changes)
        for c in changes:
            if c.fencing_token is not None:
                check_fence(conn, c.state_id, c.fencing_token)
    return slots


def _check_unrecorded_and_fenced(conn: Connection, changes: Sequence[StateChange]) -> None:
    # Under a direct claim both checks come for free: the history's unique key refuses a
    # change recorded before, and consuming the claim (_consume_claims) proves the token
    # current.
    if any(
        c.claim_owner is None and recorded_version(conn, c.key, c.state_id) is not None
        for c in changes
    ):
        raise CompareAndSetLost("a change of this batch was recorded concurrently")
    for c in changes:
        if c.fencing_token is not None and c.claim_owner is None:
            check_fence(conn, c.state_id, c.fencing_token)
            raise_fence(conn, c.state_id, c.fencing_token)


def _write_changes(
    conn: Connection,
    changes: Sequence[StateChange],
    slots: dict[str, _Slot],
    results: list[tuple[int, StateData]],
) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "state_id": c.state_id,
            "version": version,
            "request_id": c.key,
            "actor": c.actor,
            "at": now,
            "data": data,
        }
        for c, (version, data) in zip(changes, results, strict=True)
    ]
    # Each row chains to the state's previous version: the head as read, then this batch's
    # own rows of the same state, in order.
    heads = {state_id: slot.head for state_id, slot in slots.items()}
    for c, row in zip(changes, rows, strict=True):
        heads[c.state_id] = row["row_hash"] = chain.history_hash(heads[c.state_id], row)
    for state_id, slot in slots.items():
        if slot.version != slot.read_version:
            _write_state(conn, state_id, slot, now, heads[state_id])
    try:
        conn.execute(insert(state_history), rows)
    except IntegrityError as exc:
        raise CompareAndSetLost(f"a change of this batch was recorded: {exc.orig}") from exc
    events = [
        (c.key, c.state_id, version, c.events())
        for c, (version, _) in zip(changes, results, strict=True)
        if c.events is not None
    ]
    if any(emitted for *_, emitted in events):
        conn.execute(insert(outbox), outbox_rows(events, now))
    if conn.dialect.name == "postgresql":
        # Watchers LISTEN for it (store/watch.py); it is delivered at commit, or never.
        for state_id in dict.fromkeys(c.state_id for c in changes):
            conn.execute(sql.NOTIFY_STATE_VERSION, {"state_id": state_id})


def _consume_claims(conn: Connection, changes: Sequence[StateChange]) -> None:
    for c in changes:
        if c.lane_owner is not None:
            _delete_claim(conn, c.state_id, c.lane_owner, ClaimKind.LANE)
    for state_id, owner, token in _claims_of(changes):
        if not _delete_direct(conn, state_id, owner, token):
            # Expired and fenced by a lane joiner, released, or taken again under a new
            # token by a retry of the same owner, after the fence check.
            raise FencedOut(state_id, token, read_fence(conn, state_id) or 0)


def _claims_of(changes: Sequence[StateChange]) -> list[tuple[str, str, int]]:
    """(state, claim owner, token) of every change made under a direct claim, once each."""
    found: dict[tuple[str, str], int] = {}
    for c in changes:
        if c.claim_owner is not None and c.fencing_token is not None:
            found.setdefault((c.state_id, c.claim_owner), c.fencing_token)
    return [(state_id, owner, token) for (state_id, owner), token in found.items()]


def _delete_direct(conn: Connection, state_id: str, owner: str, token: int) -> bool:
    """Consume ``owner``'s direct claim with ``token`` on the state; False: it had none."""
    deleted = conn.execute(
        sql.DELETE_DIRECT_CLAIM, {"state_id": state_id, "owner": owner, "token": token}
    ).rowcount
    return bool(deleted)


def _delete_claim(conn: Connection, state_id: str, owner: str, kind: ClaimKind) -> bool:
    deleted = conn.execute(
        sql.DELETE_CLAIM, {"state_id": state_id, "owner": owner, "kind": kind.value}
    ).rowcount
    return bool(deleted)


def _read_slots(conn: Connection, changes: Sequence[StateChange]) -> dict[str, _Slot]:
    slots: dict[str, _Slot] = {}
    for c in changes:
        if c.state_id in slots:
            continue
        row = conn.execute(sql.STATE_ROW_CHAINED, {"state_id": c.state_id}).one_or_none()
        version, data = (row.version, dict(row.data)) if row else (0, {})
        slots[c.state_id] = _Slot(
            read_version=version,
            exists=row is not None,
            version=version,
            data=data,
            head=row.history_hash if row else None,
        )
    return slots


def _run_handlers(
    changes: Sequence[StateChange], slots: dict[str, _Slot]
) -> list[tuple[int, StateData]]:
    """Run every handler in order, threading each state; returns (version, data) per change."""
    results: list[tuple[int, StateData]] = []
    for index, c in enumerate(changes):
        slot = slots[c.state_id]
        if c.expected_version is not None and c.expected_version != slot.version:
            raise VersionConflict(c.state_id, c.expected_version, slot.version, index)
        slot.data = c.change(dict(slot.data))
        slot.version += 1
        results.append((slot.version, slot.data))
    return results


def _write_state(
    conn: Connection, state_id: str, slot: _Slot, now: datetime, head: str | None
) -> None:
    if not slot.exists:
        # No savepoint: a state created meanwhile fails the whole transaction, as it must.
        try:
            conn.execute(
                sql.INSERT_STATE,
                {
                    "state_id": state_id,
                    "version": slot.version,
                    "data": slot.data,
                    "updated_at": now,
                    "history_hash": head,
                },
            )
        except IntegrityError as exc:
            raise CompareAndSetLost(str(exc.orig)) from exc
        return
    changed = conn.execute(
        sql.UPDATE_STATE_IF_AT,
        {
            "b_state_id": state_id,
            "b_read_version": slot.read_version,
            "b_version": slot.version,
            "b_data": slot.data,
            "b_updated_at": now,
            "b_history_hash": head,
        },
    ).rowcount
    if changed != 1:
        raise CompareAndSetLost(f"state {state_id!r} moved past version {slot.read_version}")
