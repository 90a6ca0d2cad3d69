"""What the reads show: a state at one version, its history rows, and its lane's lock.

Re-exported by ``mutator.models``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class StateView(BaseModel):
    """A state at one version.

    Attributes:
        state_id: The state's id.
        version: The version (1 after the first executed mutation).
        data: The state's content at that version.
    """

    state_id: str
    version: int
    data: dict[str, Any]


class HistoryEntry(BaseModel):
    """One version of a state and the request that made it.

    Attributes:
        version: The version the request made.
        request_id: The request that made it.
        actor: Who requested it.
        at: When it was written.
        data: The state's content at that version.
    """

    version: int
    request_id: str
    actor: str
    at: datetime
    data: dict[str, Any]


class LockInfo(BaseModel):
    """One state's lane as `mutator locks` shows it."""

    state_id: str
    holder_request_id: str | None
    fencing_token: int | None
    queue_length: int
    queued_request_ids: list[str]
    acquired_at: datetime | None
    expires_at: datetime | None
    stale: bool  # the lease is past its expiry and has not been passed on yet
    note: str = ""
