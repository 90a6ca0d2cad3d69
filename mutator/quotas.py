"""Quotas: at most ``limit`` executions per key within any sliding window of ``per``.

``Quota`` is what ``@app.mutation(..., quota=Quota(...))`` declares; ``QuotaUse`` is one
execution's claim on a slot, which the store takes in the execution's own transaction
(``mutator.store.quotas``); ``QuotaExceeded`` is what it finds when every slot is taken.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel

QuotaKey = Literal["state", "requester", "mutation"]
OnExceeded = Literal["wait", "reject"]
QUOTA_KEYS: tuple[str, ...] = get_args(QuotaKey)
ON_EXCEEDED_CHOICES: tuple[str, ...] = get_args(OnExceeded)


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` executions of a mutation per ``key`` within any window of ``per``.

    Attributes:
        limit: How many executions the window holds (at least 1).
        per: The sliding window's length (positive).
        key: What is counted apart: each ``state``, each ``requester``, or the whole
            ``mutation``.
        on_exceeded: ``wait`` (``pending``, reason ``quota``, until a slot frees) or
            ``reject`` (``rejected``, code ``quota_exceeded``).
    """

    limit: int
    per: timedelta
    key: QuotaKey = "state"
    on_exceeded: OnExceeded = "wait"

    def __post_init__(self) -> None:
        """Refuse a quota that cannot be kept.

        Raises:
            ValueError: ``limit`` or ``per`` is not positive, or ``key`` or ``on_exceeded``
                is not one of its choices; the message names the field.
        """
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit <= 0:
            raise ValueError(f"Quota limit must be a positive integer, got {self.limit!r}")
        if not isinstance(self.per, timedelta) or self.per <= timedelta(0):
            raise ValueError(f"Quota per must be a positive timedelta, got {self.per!r}")
        if self.key not in QUOTA_KEYS:
            raise ValueError(f"Quota key must be one of {', '.join(QUOTA_KEYS)}, got {self.key!r}")
        if self.on_exceeded not in ON_EXCEEDED_CHOICES:
            raise ValueError(
                f"Quota on_exceeded must be one of {', '.join(ON_EXCEEDED_CHOICES)}, "
                f"got {self.on_exceeded!r}"
            )

    def use(self, mutation: str, state_id: str, requester: str, at: datetime) -> QuotaUse:
        """The slot an execution of ``mutation`` on ``state_id`` by ``requester`` takes."""
        value = {"state": state_id, "requester": requester, "mutation": mutation}[self.key]
        return QuotaUse(
            mutation=mutation,
            key=self.key,
            value=value,
            limit=self.limit,
            per=self.per,
            on_exceeded=self.on_exceeded,
            at=at,
        )


class QuotaUse(BaseModel):
    """One execution's claim on a slot of its mutation's quota.

    Attributes:
        mutation: The mutation whose quota it is.
        key: What is counted apart (``state``, ``requester`` or ``mutation``).
        value: The key's value: the state id, the requester, or the mutation's name.
        limit: The quota's limit.
        per: The quota's window.
        on_exceeded: ``wait`` or ``reject``.
        at: When the execution takes the slot (the server's time).
    """

    mutation: str
    key: QuotaKey
    value: str
    limit: int
    per: timedelta
    on_exceeded: OnExceeded
    at: datetime

    @property
    def row_key(self) -> str:
        """The counter's key in the store: one per mutation, key kind and value."""
        return f"{self.mutation}\x1f{self.key}\x1f{self.value}"


def describe_per(per: timedelta) -> str:
    """``per`` in words: ``1h``, ``30m``, ``1d``, ``90s``."""
    seconds = int(per.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{per.total_seconds():g}s"


class QuotaExceeded(BaseModel):
    """Every slot of a quota is taken: what an execution found, and when one frees.

    Attributes:
        use: The slot the execution asked for.
        used: How many executions the window holds now.
        next_slot: When the oldest use that has to leave the window leaves it.
    """

    use: QuotaUse
    used: int
    next_slot: datetime

    @property
    def name(self) -> str:
        """The quota's name in a gate: ``requester alice``."""
        return f"{self.use.key} {self.use.value}"

    @property
    def detail(self) -> str:
        """E.g. ``3 of 3 executions per 1h for requester alice; next slot at ...``."""
        return (
            f"{self.used} of {self.use.limit} executions of {self.use.mutation} per "
            f"{describe_per(self.use.per)} for {self.name}; next slot at "
            f"{self.next_slot.isoformat()}"
        )


def next_slot(uses_in_window: list[datetime], limit: int, per: timedelta) -> datetime:
    """When a window holding ``uses_in_window`` (at least ``limit``) has a slot free again.

    The window frees a slot when enough of its oldest uses leave it that fewer than
    ``limit`` remain: the ``(len - limit + 1)``-th oldest use, plus ``per``.
    """
    ordered = sorted(uses_in_window)
    return ordered[len(ordered) - limit] + per
