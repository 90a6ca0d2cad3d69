"""What verifying the tamper-evident record reports (``mutator audit --verify``).

The store recomputes every chain (mutator/store/chain.py, mutator/store/verify.py) and
reports each row that does not fit as a ``RecordProblem``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, computed_field


class ChainKind(StrEnum):
    """Which chain a problem is in."""

    DECISIONS = "decisions"  # a request's decisions, by seq
    HISTORY = "history"  # a state's versions


class ProblemKind(StrEnum):
    """What is wrong with a row (or its chain)."""

    EDITED = "edited"  # the row's fields (or its hash) are not what was written
    DELETED = "deleted"  # a row of the chain is missing
    INSERTED = "inserted"  # a row the chain never had (past its head, or without its owner)
    REORDERED = "reordered"  # a row written at another position than where it is now
    UNHASHED = "unhashed"  # a row with no hash: not written by Mutator since migration 0005


class RecordProblem(BaseModel):
    """One row that does not fit its chain.

    Attributes:
        chain: Which chain: a request's decisions or a state's history.
        chain_id: The request id (decisions) or the state id (history).
        position: The row's seq (decisions) or version (history) as stored now; for a
            deleted row, the position that is missing.
        kind: What is wrong.
        detail: What is wrong, in words.
    """

    chain: ChainKind
    chain_id: str
    position: int
    kind: ProblemKind
    detail: str


class RecordVerification(BaseModel):
    """The result of recomputing the record's hash chains.

    Attributes:
        requests: How many requests' decision chains were checked.
        decisions: How many decision rows were checked.
        states: How many states' history chains were checked.
        history: How many history rows were checked.
        problems: Every row that does not fit, by chain and position (position 0: the
            request's or state's own row is missing).
        ok: True when there is no problem.
    """

    requests: int = 0
    decisions: int = 0
    states: int = 0
    history: int = 0
    problems: list[RecordProblem] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when every checked row fits its chain."""
        return not self.problems
