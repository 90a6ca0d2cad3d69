"""What verifying the tamper-evident record reports (``mutator audit --verify``).

The store recomputes every chain (mutator/store/chain.py, mutator/store/verify.py) and, given
a directory, re-verifies every stored signature (mutator/identity/audit.py); it reports each
row that does not fit as a ``RecordProblem``.
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
    # Signatures (checked only against a directory: ``audit --verify --directory/--app``).
    UNSIGNED = "unsigned"  # a person's decision without a signature, where one is required
    MALFORMED_PROOF = "malformed_proof"  # the stored envelope or signature does not parse
    BAD_SIGNATURE = "bad_signature"  # the signature does not verify over the stored envelope
    UNKNOWN_KEY = "unknown_key"  # the signing key belongs to nobody in the directory
    KEY_OF_ANOTHER_USER = "key_of_another_user"  # the key is not the decision's actor's
    ENVELOPE_MISMATCH = "envelope_mismatch"  # the envelope signs something else than the row


class SignatureCheck(StrEnum):
    """How ``audit --verify`` treated signatures."""

    NOT_CHECKED = "not_checked"  # no directory given: only the chains were checked
    # Every stored signature verified against the directory's keys, and a person's decision
    # without one is a problem (a signed-mode app, or --directory).
    REQUIRED = "required"
    # Every stored signature verified; a person's decision without one is listed as claimed
    # (a claimed-mode app), not a problem.
    CLAIMED_ALLOWED = "claimed_allowed"


class RecordProblem(BaseModel):
    """One row that does not fit its chain.

    Attributes:
        chain: Which chain: a request's decisions or a state's history.
        chain_id: The request id (decisions) or the state id (history).
        position: The row's seq (decisions) or version (history) as stored now; for a
            deleted row, the position that is missing.
        kind: What is wrong.
        detail: What is wrong, in words.
        code: A decision row's code as stored (None: a history row, or a missing row).
        actor: A decision row's actor as stored (None likewise).
    """

    chain: ChainKind
    chain_id: str
    position: int
    kind: ProblemKind
    detail: str
    code: str | None = None
    actor: str | None = None


class ClaimedDecision(BaseModel):
    """A person's decision stored without a signature: the actor's name was only claimed.

    Attributes:
        request_id: The request.
        seq: The decision's seq.
        code: The decision's code.
        actor: The name it was recorded under.
    """

    request_id: str
    seq: int
    code: str
    actor: str


class RecordVerification(BaseModel):
    """The result of recomputing the record's hash chains.

    Attributes:
        requests: How many requests' decision chains were checked.
        decisions: How many decision rows were checked.
        states: How many states' history chains were checked.
        history: How many history rows were checked.
        problems: Every row that does not fit, by chain and position (position 0: the
            request's or state's own row is missing), then every signature problem.
        signatures: Whether signatures were checked, and whether unsigned decisions of
            persons are problems.
        signed: How many stored signatures verified (0 when not checked).
        claimed: With ``signatures`` ``claimed_allowed``: the persons' decisions without a
            signature (not problems).
        ok: True when there is no problem.
    """

    requests: int = 0
    decisions: int = 0
    states: int = 0
    history: int = 0
    problems: list[RecordProblem] = Field(default_factory=list)
    signatures: SignatureCheck = SignatureCheck.NOT_CHECKED
    signed: int = 0
    claimed: list[ClaimedDecision] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when every checked row fits its chain."""
        return not self.problems
