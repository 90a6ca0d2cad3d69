"""Which recorded decisions a person signs, and their identity marks in ``show`` and ``audit``.

A person's decisions are ``submitted`` (the requester), approval votes (``approval``
``approved`` and ``rejected``), the approver's rejection (``rejected:approver_rejected``) and a
cancel (``canceled``), an external check's report (``check_passed``, ``check_failed``) and an
override of a soft deny (``approval`` ``overridden``),
whoever the actor is but ``system``, ``policy`` and ``approvers``. An
approver's reject writes two rows, the vote and the rejection; one proof on either covers both.
Each is marked ``signed: <fingerprint>`` when it carries a proof, else ``identity: claimed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mutator.decisions import DecisionCode, SystemActor, rejected_code
from mutator.identity.envelope import Action
from mutator.models import AuditEntry, Decision, DecisionCategory, RejectionCode, SignedProof

_LIFECYCLE, _APPROVAL = DecisionCategory.LIFECYCLE.value, DecisionCategory.APPROVAL.value
_VOTE_REJECTED = (_APPROVAL, DecisionCode.REJECTED.value)
_APPROVER_REJECTED = (_LIFECYCLE, rejected_code(RejectionCode.APPROVER_REJECTED))
PERSON_ACTIONS: Mapping[tuple[str, str], Action] = {
    (_LIFECYCLE, DecisionCode.SUBMITTED.value): "submit",
    (_APPROVAL, DecisionCode.APPROVED.value): "approve",
    _VOTE_REJECTED: "reject",
    _APPROVER_REJECTED: "reject",
    (_LIFECYCLE, DecisionCode.CANCELED.value): "cancel",
    (_LIFECYCLE, DecisionCode.CHECK_PASSED.value): "check",
    (_LIFECYCLE, DecisionCode.CHECK_FAILED.value): "check",
    (_APPROVAL, DecisionCode.OVERRIDDEN.value): "override",
}
SYSTEM_ACTORS = frozenset(actor.value for actor in SystemActor)
CLAIMED_MARK = "identity: claimed"


@dataclass(frozen=True)
class RecordedDecision:
    """One stored decision row, as the identity checks need it."""

    request_id: str
    seq: int
    category: str
    code: str
    actor: str
    reason: str
    proof: SignedProof | None

    @classmethod
    def of_entry(cls, entry: AuditEntry) -> RecordedDecision:
        """An audit entry's decision."""
        return cls(
            entry.request_id,
            entry.seq,
            entry.category.value,
            entry.code,
            entry.actor,
            entry.reason,
            entry.proof,
        )

    @classmethod
    def of_decision(cls, request_id: str, seq: int, decision: Decision) -> RecordedDecision:
        """Decision ``seq`` of request ``request_id``."""
        return cls(
            request_id,
            seq,
            decision.category.value,
            decision.code,
            decision.actor,
            decision.reason,
            decision.proof,
        )

    @property
    def action(self) -> Action | None:
        """The signed action a person takes with this decision; None: nobody signs it."""
        if self.actor in SYSTEM_ACTORS:
            return None
        return PERSON_ACTIONS.get((self.category, self.code))


Positions = Mapping[tuple[str, int], RecordedDecision]


def by_position(decisions: Sequence[RecordedDecision]) -> dict[tuple[str, int], RecordedDecision]:
    """The decisions by (request id, seq), to find a reject's other row."""
    return {(d.request_id, d.seq): d for d in decisions}


def covering_proof(decision: RecordedDecision, positions: Positions) -> SignedProof | None:
    """The decision's own proof, or for a reject's row without one, the other row's proof."""
    if decision.proof is not None:
        return decision.proof
    kind = (decision.category, decision.code)
    if kind == _VOTE_REJECTED:
        seq, other_kind = decision.seq + 1, _APPROVER_REJECTED
    elif kind == _APPROVER_REJECTED:
        seq, other_kind = decision.seq - 1, _VOTE_REJECTED
    else:
        return None
    other = positions.get((decision.request_id, seq))
    if other is None or (other.category, other.code) != other_kind or other.actor != decision.actor:
        return None
    return other.proof


def identity_marks(decisions: Sequence[RecordedDecision]) -> list[str]:
    """Each decision's mark: ``signed: <fingerprint>``, ``identity: claimed``, or ``""``.

    A proof is shown by its fingerprint (``audit --verify`` checks it); a person's decision
    without one is claimed; a decision nobody signs has no mark.
    """
    positions = by_position(decisions)
    marks = []
    for decision in decisions:
        proof = covering_proof(decision, positions) if decision.action else decision.proof
        if proof is not None:
            marks.append(f"signed: {proof.fingerprint}")
        else:
            marks.append(CLAIMED_MARK if decision.action else "")
    return marks
