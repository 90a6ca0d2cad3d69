"""State claims: who is using a state outside and inside its lane.

A request allowed at once may execute *directly* (without the per-state lane workflow) when
nobody else uses the state. One row per (state, owner), the owner being the request's
workflow id:

- ``direct``: a short lease with a fencing token, taken by ``claim_direct`` only when the
  state has no other row. Its apply (``StateChange.claim_owner``) consumes the row.
- ``lane``: the owner has joined, or is joining, the state's lane; while such a row exists
  no direct claim is granted. ``join_lane`` inserts it and reports a live direct claim of
  someone else, which the joiner waits out; the lane deletes the rows of the owners it has
  seen (``forget_lane_owners``) when it closes idle.

A direct claim that goes away without being applied (expired, released, or turned into a
lane row) raises the state's fence above its token, so its holder can never apply.
``claim_direct``, ``join_lane`` and ``direct_claim`` for one state serialize: SQLite write
transactions BEGIN IMMEDIATE, PostgreSQL transactions take an advisory lock per state.
Every function here runs inside the caller's write transaction; ``Claims`` gives each its
own, and reads and raises fences (fences.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, delete, insert, select, text, update

from mutator.models import StateView
from mutator.store import statements as sql
from mutator.store.database import Database
from mutator.store.fences import raise_fence, read_fence, write_fence
from mutator.store.schema import ClaimKind, state_claims
from mutator.store.states import current_state_chained

DIRECT = ClaimKind.DIRECT
LANE = ClaimKind.LANE


class DirectClaim(BaseModel):
    """A live direct execution on a state: its owner, fencing token and lease end."""

    model_config = ConfigDict(frozen=True)

    state_id: str
    owner: str
    token: int
    expires_at: datetime


class StateClaim(BaseModel):
    """A row of the claims table, for display."""

    model_config = ConfigDict(frozen=True)

    state_id: str
    owner: str
    kind: ClaimKind
    token: int | None
    claimed_at: datetime
    expires_at: datetime | None


def _require(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def lock_state(conn: Connection, state_id: str) -> None:
    """Serialize the claim transactions of ``state_id`` (SQLite: BEGIN IMMEDIATE does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"mutator-claims:{state_id}"},
        )


def _drop_direct(
    conn: Connection, state_id: str, owner: str, only_token: int | None = None
) -> int | None:
    """Delete ``owner``'s direct row and fence its token out.

    With ``only_token``, only a row under that token. Returns the token, or None when there
    was no such row.
    """
    query = delete(state_claims).where(
        state_claims.c.state_id == state_id,
        state_claims.c.owner == owner,
        state_claims.c.kind == DIRECT,
    )
    if only_token is not None:
        query = query.where(state_claims.c.token == only_token)
    token = conn.execute(query.returning(state_claims.c.token)).scalar_one_or_none()
    if token is None:
        return None
    raise_fence(conn, state_id, int(token) + 1)
    return int(token)


def claim_direct(
    conn: Connection, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
) -> int | None:
    """Take (or, for the same owner, extend) the direct claim; None: use the lane.

    ``fresh_token``: the owner's earlier attempt may still be running somewhere (its worker
    stopped answering): keep the claim, but under a new token, so that attempt is fenced out.
    """
    _require("state_id", state_id)
    _require("owner", owner)
    if not lease_seconds > 0:
        raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
    lock_state(conn, state_id)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=lease_seconds)
    rows = conn.execute(sql.CLAIMS_OF_STATE, {"state_id": state_id}).all()
    if any(r.owner != owner or r.kind != DIRECT for r in rows):
        return None
    if rows and fresh_token:
        _drop_direct(conn, state_id, owner)
    elif rows:
        # A retry of the owner's activity: the same token, a longer lease. (rowcount 0: its
        # apply consumed the row meanwhile; then claim afresh below.)
        extended = conn.execute(
            update(state_claims)
            .where(
                state_claims.c.state_id == state_id,
                state_claims.c.owner == owner,
                state_claims.c.kind == DIRECT,
            )
            .values(expires_at=expires_at)
        ).rowcount
        if extended == 1:
            return int(rows[0].token)
    current = read_fence(conn, state_id)
    token = (current or 0) + 1
    write_fence(conn, state_id, token, current)
    conn.execute(
        sql.INSERT_CLAIM,
        {
            "state_id": state_id,
            "owner": owner,
            "kind": DIRECT,
            "token": token,
            "claimed_at": now,
            "expires_at": expires_at,
        },
    )
    return token


def release_direct(conn: Connection, state_id: str, owner: str, token: int | None = None) -> None:
    """Give up ``owner``'s direct claim unapplied (no-op without one); its token is fenced.

    ``token``: only the claim under that token (an attempt given up on must not release
    the claim its retry holds now).
    """
    _require("state_id", state_id)
    _require("owner", owner)
    lock_state(conn, state_id)
    _drop_direct(conn, state_id, owner, token)


def direct_claim(conn: Connection, state_id: str) -> DirectClaim | None:
    """The live direct claim on the state, if any; an expired one is deleted and fenced."""
    _require("state_id", state_id)
    lock_state(conn, state_id)
    return _live_direct(conn, state_id, other_than=None)


def join_lane(conn: Connection, state_id: str, owner: str) -> DirectClaim | None:
    """Record ``owner`` as a lane member; returns another owner's live direct claim, if any.

    The owner's own direct claim, if it holds one, becomes its lane row (and its token is
    fenced out). The caller waits until this (or ``direct_claim``) returns None before it
    signals the lane.
    """
    _require("state_id", state_id)
    _require("owner", owner)
    lock_state(conn, state_id)
    now = datetime.now(UTC)
    kind = conn.execute(
        select(state_claims.c.kind).where(
            state_claims.c.state_id == state_id, state_claims.c.owner == owner
        )
    ).scalar_one_or_none()
    if kind == DIRECT:
        _drop_direct(conn, state_id, owner)
        kind = None
    if kind is None:
        conn.execute(
            insert(state_claims).values(
                state_id=state_id,
                owner=owner,
                kind=LANE,
                token=None,
                claimed_at=now,
                expires_at=None,
            )
        )
    return _live_direct(conn, state_id, other_than=owner, now=now)


def _live_direct(
    conn: Connection, state_id: str, *, other_than: str | None, now: datetime | None = None
) -> DirectClaim | None:
    now = now or datetime.now(UTC)
    query = (
        select(state_claims.c.owner, state_claims.c.token, state_claims.c.expires_at)
        .where(state_claims.c.state_id == state_id, state_claims.c.kind == DIRECT)
        .order_by(state_claims.c.claimed_at, state_claims.c.owner)
    )
    if other_than is not None:
        query = query.where(state_claims.c.owner != other_than)
    live: DirectClaim | None = None
    for row in conn.execute(query).all():
        if row.expires_at is None or row.expires_at <= now:
            _drop_direct(conn, state_id, row.owner)
        elif live is None:
            live = DirectClaim(state_id=state_id, **row._mapping)
    return live


def forget_lane_owners(conn: Connection, state_id: str, owners: Sequence[str]) -> int:
    """Delete the lane rows of ``owners`` on the state; returns how many were deleted."""
    _require("state_id", state_id)
    if isinstance(owners, str):
        raise ValueError("owners must be a sequence of owners, not one string")
    names = sorted(set(owners))
    if not names:
        return 0
    lock_state(conn, state_id)
    return int(
        conn.execute(
            delete(state_claims).where(
                state_claims.c.state_id == state_id,
                state_claims.c.kind == LANE,
                state_claims.c.owner.in_(names),
            )
        ).rowcount
    )


def list_claims(conn: Connection, state_id: str | None = None) -> list[StateClaim]:
    """Every claim row (of ``state_id`` only, when given), by state and age."""
    query = select(state_claims).order_by(state_claims.c.state_id, state_claims.c.claimed_at)
    if state_id is not None:
        query = query.where(state_claims.c.state_id == state_id)
    return [StateClaim.model_validate(r, from_attributes=True) for r in conn.execute(query)]


class Claims:
    """Claims and fences of states, each call in a transaction of its own through ``db``."""

    def __init__(self, db: Database) -> None:
        """Read and write claims and fences through ``db``."""
        self._db = db

    def fence(self, state_id: str) -> int:
        """The lowest fencing token the store still accepts for ``state_id`` (0: none yet)."""
        with self._db.connect("read a fence") as conn:
            return read_fence(conn, state_id) or 0

    def advance_fence(self, state_id: str, token: int) -> int:
        """Refuse every token below ``token`` from now on; returns the fence."""
        with self._db.write("advance a fence") as conn:
            return raise_fence(conn, state_id, token)

    def claim_direct(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> int | None:
        """A direct claim's fencing token, or None when the state is in use: use the lane."""
        with self._db.write("claim a state") as conn:
            return claim_direct(conn, state_id, owner, lease_seconds, fresh_token=fresh_token)

    def claim_direct_reading(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> tuple[int, StateView | None, str | None] | None:
        """``claim_direct``, the state under the claim and its history head, in one transaction.

        The head (the hash of the state's latest history row) lets the change chain its own
        history row without reading it again (see chain.py).
        """
        with self._db.write("claim a state") as conn:
            token = claim_direct(conn, state_id, owner, lease_seconds, fresh_token=fresh_token)
            if token is None:
                return None
            return token, *current_state_chained(conn, state_id)

    def release_direct(self, state_id: str, owner: str, token: int | None = None) -> None:
        """Give up ``owner``'s direct claim (only under ``token``, when given) unapplied."""
        with self._db.write("release a state claim") as conn:
            release_direct(conn, state_id, owner, token)

    def join_lane(self, state_id: str, owner: str) -> DirectClaim | None:
        """Mark ``owner`` a lane member; another owner's live direct claim, to wait out."""
        with self._db.write("join a state lane") as conn:
            return join_lane(conn, state_id, owner)

    def direct_claim(self, state_id: str) -> DirectClaim | None:
        """The live direct claim on ``state_id``, if any."""
        with self._db.write("read a direct claim") as conn:
            return direct_claim(conn, state_id)

    def forget_lane_owners(self, state_id: str, owners: Sequence[str]) -> int:
        """Drop the lane rows of ``owners`` on ``state_id``; how many were dropped."""
        with self._db.write("forget lane owners") as conn:
            return forget_lane_owners(conn, state_id, owners)

    def list_claims(self, state_id: str | None = None) -> list[StateClaim]:
        """Every claim row (of ``state_id`` only, when given), by state and age."""
        with self._db.connect("read state claims") as conn:
            return list_claims(conn, state_id)
