"""Fences: per state, the lowest fencing token the store still accepts.

A holder whose lease expired (a direct claim, a lane turn) keeps its old token; raising the
fence above it makes every later write under that token fail as FencedOut. Every function
here runs inside the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection

from mutator.store import statements as sql


class FencedOut(Exception):
    """The caller's lease expired: a newer fencing token owns the state now."""

    def __init__(self, state_id: str, token: int, fence: int) -> None:
        """Say which token fell below which fence of ``state_id``."""
        super().__init__(
            f"fencing token {token} on state {state_id!r} is below the fence {fence}: "
            "the lease expired and passed on"
        )
        self.state_id = state_id


def read_fence(conn: Connection, state_id: str) -> int | None:
    """The state's fence: the lowest token still accepted (None: no fence yet)."""
    fence: int | None = conn.execute(
        sql.FENCE_OF_STATE, {"state_id": state_id}
    ).scalar_one_or_none()
    return fence


def check_fence(conn: Connection, state_id: str, token: int) -> None:
    """Refuse a token below the state's fence.

    Raises:
        FencedOut: The lease under ``token`` expired and passed on.
    """
    fence = read_fence(conn, state_id)
    if fence is not None and token < fence:
        raise FencedOut(state_id, token, fence)


def write_fence(conn: Connection, state_id: str, token: int, current: int | None) -> None:
    """Set the fence to ``token``; ``current`` is what ``read_fence`` returned."""
    if current is None:
        conn.execute(sql.INSERT_FENCE, {"state_id": state_id, "token": token})
    else:
        conn.execute(sql.SET_FENCE, {"b_state_id": state_id, "b_token": token})


def raise_fence(conn: Connection, state_id: str, token: int) -> int:
    """Refuse every token below ``token`` from now on; returns the fence."""
    current = read_fence(conn, state_id)
    if current is not None and token <= current:
        return current
    write_fence(conn, state_id, token, current)
    return token
