"""Re-verifying the record's stored proofs, for ``mutator audit --verify``.

``mutator audit --verify`` re-verifies every stored signature against a directory. At audit
time a proof is checked without time or nonce (those counted when the
decision did): its signature must verify over its stored envelope, by a key the directory
gives the decision's actor, and the envelope must be for that decision of that request.

Which decisions a person signs is ``marks.py``'s: a person's decision without a proof (not
covered by the other row of its reject) is unsigned. Refused attempts, and the ``submitted``
row of a request rejected ``signature_refused``, are not decisions that count: they are not
checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sshsig

from mutator.decisions import DecisionCode, rejected_code
from mutator.identity.directory import Directory
from mutator.identity.envelope import SIGNATURE_NAMESPACE, Action, Envelope
from mutator.identity.marks import RecordedDecision, by_position, covering_proof
from mutator.identity.requests import expected_for
from mutator.identity.verify import SignatureRefused, parse_envelope, signature_fingerprint
from mutator.models import MutationRequest, RejectionCode, SignedProof
from mutator.record import (
    ChainKind,
    ClaimedDecision,
    ProblemKind,
    RecordProblem,
    RecordVerification,
    SignatureCheck,
)

# A submit whose signature the worker refused counted for nothing, like a refused attempt.
SIGNATURE_REFUSED = rejected_code(RejectionCode.SIGNATURE_REFUSED)


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
    refused_submit = any(d.code == SIGNATURE_REFUSED for d in decisions)
    for decision in decisions:
        if decision.code == DecisionCode.REFUSED_ATTEMPT or (
            refused_submit and decision.code == DecisionCode.SUBMITTED
        ):
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
    for name, signed, stored in pairs:
        if signed != stored:
            return f"the envelope's {name} is {signed!r}, the stored decision's is {stored!r}"
    for name, signed, stored in _request_pairs(envelope, request, action) if request else []:
        if signed != stored:
            return f"the envelope's {name} is {signed!r}, the stored request's is {stored!r}"
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
