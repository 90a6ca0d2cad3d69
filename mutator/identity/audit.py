"""Which recorded decisions a person signs, their identity marks, and re-verifying a stored proof.

``mutator show`` and ``mutator audit`` mark each person's decision ``identity: claimed`` or
``signed: SHA256:...``; ``mutator audit --verify`` re-verifies every stored signature against a
directory. At audit time a proof is checked without time or nonce (those counted when the
decision did): its signature must verify over its stored envelope, by a key the directory
gives the decision's actor, and the envelope must be for that decision of that request.

A person's decisions are ``submitted`` (the requester), approval votes (``approval``
``approved`` and ``rejected``), the approver's rejection (``rejected:approver_rejected``) and a
cancel (``canceled``), whoever the actor is but ``system``, ``policy`` and ``approvers``. An
approver's reject writes two rows, the vote and the rejection; one proof on either covers both.
Refused attempts are not decisions that count: their proofs, if any, are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sshsig

from mutator.decisions import DecisionCode, SystemActor, rejected_code
from mutator.identity.directory import Directory
from mutator.identity.envelope import SIGNATURE_NAMESPACE, Action, Envelope
from mutator.identity.requests import expected_for
from mutator.identity.verify import SignatureRefused, parse_envelope, signature_fingerprint
from mutator.models import (
    AuditEntry,
    Decision,
    DecisionCategory,
    MutationRequest,
    RejectionCode,
    SignedProof,
)
from mutator.record import (
    ChainKind,
    ClaimedDecision,
    ProblemKind,
    RecordProblem,
    RecordVerification,
    SignatureCheck,
)

_LIFECYCLE, _APPROVAL = DecisionCategory.LIFECYCLE.value, DecisionCategory.APPROVAL.value
_VOTE_REJECTED = (_APPROVAL, DecisionCode.REJECTED.value)
_APPROVER_REJECTED = (_LIFECYCLE, rejected_code(RejectionCode.APPROVER_REJECTED))
PERSON_ACTIONS: Mapping[tuple[str, str], Action] = {
    (_LIFECYCLE, DecisionCode.SUBMITTED.value): "submit",
    (_APPROVAL, DecisionCode.APPROVED.value): "approve",
    _VOTE_REJECTED: "reject",
    _APPROVER_REJECTED: "reject",
    (_LIFECYCLE, DecisionCode.CANCELED.value): "cancel",
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


@dataclass(frozen=True)
class SignatureAudit:
    """How ``audit --verify`` checks signatures.

    Attributes:
        directory: The users and keys the signatures are checked against.
        required: A person's decision without a signature is a problem (a signed-mode app,
            or a directory given); else it is listed as claimed.
    """

    directory: Directory
    required: bool

    @property
    def check(self) -> SignatureCheck:
        """What the report says was checked."""
        return SignatureCheck.REQUIRED if self.required else SignatureCheck.CLAIMED_ALLOWED


def audit_signatures(
    chain_id: str,
    decisions: Sequence[RecordedDecision],
    request: MutationRequest | None,
    audit: SignatureAudit,
    report: RecordVerification,
) -> None:
    """Check the signatures of one request's decision rows into ``report``.

    Args:
        chain_id: The request id of the chain (the rows' own ``request_id``).
        decisions: The request's decision rows as stored, by seq.
        request: The request as stored (its body), for the envelope's payload hash, state
            and mutation; None when it is missing (the chain reports that).
        audit: The directory, and whether an unsigned person's decision is a problem.
        report: Receives the problems, the claimed decisions and the count verified.
    """
    positions = by_position(decisions)
    for decision in decisions:
        if decision.code == DecisionCode.REFUSED_ATTEMPT:
            continue
        if decision.proof is not None:
            found = check_proof(decision, decision.proof, request, audit.directory)
            if found is None:
                report.signed += 1
            else:
                report.problems.append(_problem(chain_id, decision, *found))
        elif decision.action is not None and covering_proof(decision, positions) is None:
            if audit.required:
                detail = (
                    f"a {decision.action} by {decision.actor!r} without a signature: the name "
                    "was only claimed"
                )
                report.problems.append(_problem(chain_id, decision, ProblemKind.UNSIGNED, detail))
            else:
                report.claimed.append(
                    ClaimedDecision(
                        request_id=chain_id,
                        seq=decision.seq,
                        code=decision.code,
                        actor=decision.actor,
                    )
                )


def _problem(
    chain_id: str, decision: RecordedDecision, kind: ProblemKind, detail: str
) -> RecordProblem:
    return RecordProblem(
        chain=ChainKind.DECISIONS,
        chain_id=chain_id,
        position=decision.seq,
        kind=kind,
        detail=detail,
        code=decision.code,
        actor=decision.actor,
    )


def check_proof(
    decision: RecordedDecision,
    proof: SignedProof,
    request: MutationRequest | None,
    directory: Directory,
) -> tuple[ProblemKind, str] | None:
    """What is wrong with a stored proof of ``decision``, or None when it holds.

    In order: the envelope and signature parse; the signature verifies over the envelope's
    canonical bytes (namespace ``mutator``) and is by the stored fingerprint's key; the key
    belongs to the decision's actor in ``directory``; the envelope is for this decision.
    """
    try:
        envelope = parse_envelope(proof.envelope)
        fingerprint = signature_fingerprint(proof.signature)
    except SignatureRefused as exc:
        return ProblemKind.MALFORMED_PROOF, f"the stored proof does not parse: {exc}"
    try:
        sshsig.check_signature(
            envelope.signed_bytes(), proof.signature.strip(), namespace=SIGNATURE_NAMESPACE
        )
    except (sshsig.InvalidSignature, NotImplementedError, ValueError) as exc:
        return (
            ProblemKind.BAD_SIGNATURE,
            f"the signature by {fingerprint} does not verify over the stored envelope: {exc}",
        )
    if fingerprint != proof.fingerprint:
        return (
            ProblemKind.BAD_SIGNATURE,
            f"the stored fingerprint {proof.fingerprint} is not the signing key's ({fingerprint})",
        )
    owner = directory.key_owner(fingerprint)
    if owner is None:
        detail = f"signing key {fingerprint} belongs to no user of the directory"
        return ProblemKind.UNKNOWN_KEY, detail
    if owner != decision.actor:
        return (
            ProblemKind.KEY_OF_ANOTHER_USER,
            f"signing key {fingerprint} belongs to {owner!r}, not to the decision's actor "
            f"{decision.actor!r}",
        )
    mismatch = _mismatch(envelope, decision, request)
    return None if mismatch is None else (ProblemKind.ENVELOPE_MISMATCH, mismatch)


def _mismatch(
    envelope: Envelope, decision: RecordedDecision, request: MutationRequest | None
) -> str | None:
    """Which envelope field does not fit the decision row (and its request), or None."""
    action = decision.action
    if action is None:
        return (
            f"the row is a {decision.category} {decision.code} decision by {decision.actor!r}, "
            f"which no person signs, yet it carries a {envelope.action} envelope"
        )
    pairs: list[tuple[str, object, object]] = [
        ("action", envelope.action, action),
        ("request_id", envelope.request_id, decision.request_id),
        ("actor", envelope.actor, decision.actor),
        ("comment", envelope.comment, decision.reason),
    ]
    if request is not None:
        pairs.extend(_request_pairs(envelope, request, action))
    for name, signed, stored in pairs:
        if signed != stored:
            return f"the envelope's {name} is {signed!r}, the stored decision's is {stored!r}"
    return None


def _request_pairs(
    envelope: Envelope, request: MutationRequest, action: Action
) -> list[tuple[str, object, object]]:
    pairs: list[tuple[str, object, object]] = [
        ("state_id", envelope.state_id, request.state_id),
        ("mutation", envelope.mutation, request.mutation),
    ]
    try:
        expected = expected_for(request, action)
    except ValueError:  # a stored payload without a canonical form: nothing signed it either
        return pairs
    pairs.append(("payload_sha256", envelope.payload_sha256, expected.payload_sha256))
    if action == "submit":  # a vote's base version is the one of its time, not kept
        pairs.append(("base_version", envelope.base_version, expected.base_version))
    return pairs
