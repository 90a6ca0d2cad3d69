"""Which recorded decisions persons sign, their marks, and re-checking a stored proof (pure)."""

from __future__ import annotations

import pytest

from mutator.identity.audit import SignatureAudit, audit_signatures, check_proof
from mutator.identity.directory import Directory, parse_directory
from mutator.identity.marks import CLAIMED_MARK, RecordedDecision, identity_marks
from mutator.models import SignedProof
from mutator.record import ProblemKind, RecordVerification
from tests.helpers.records import make_request
from tests.helpers.signed_records import sign
from tests.mutator.identity.keys import SshKey

REQUEST = make_request("r1", reason="why")


def row(
    seq: int,
    category: str,
    code: str,
    actor: str,
    reason: str = "",
    proof: SignedProof | None = None,
) -> RecordedDecision:
    return RecordedDecision("r1", seq, category, code, actor, reason, proof)


@pytest.fixture
def directory(alice_key: SshKey, bob_key: SshKey) -> Directory:
    return parse_directory(
        {
            "alice": {"roles": ["sre"], "keys": [alice_key.public_line]},
            "bob": {"roles": ["sre"], "keys": [bob_key.public_line]},
        }
    )


@pytest.mark.parametrize(
    ("category", "code", "actor", "action"),
    [
        ("lifecycle", "submitted", "alice", "submit"),
        ("approval", "approved", "bob", "approve"),
        ("approval", "rejected", "bob", "reject"),
        ("lifecycle", "rejected:approver_rejected", "bob", "reject"),
        ("lifecycle", "canceled", "alice", "cancel"),
        ("lifecycle", "approved", "approvers", None),
        ("lifecycle", "pending", "policy", None),
        ("lifecycle", "expired", "system", None),
        ("lifecycle", "rejected:policy_denied", "system", None),
        ("approval", "refused_attempt", "mallory", None),
        ("lifecycle", "submitted", "system", None),
    ],
)
def test_which_decisions_a_person_signs(
    category: str, code: str, actor: str, action: str | None
) -> None:
    assert row(1, category, code, actor).action == action


def test_one_proof_covers_both_rows_of_a_reject(bob_key: SshKey, alice_key: SshKey) -> None:
    proof = sign(bob_key, REQUEST, "reject", "bob", "no")
    fingerprint = bob_key.fingerprint()
    vote_signed = [
        row(1, "approval", "rejected", "bob", "no", proof),
        row(2, "lifecycle", "rejected:approver_rejected", "bob", "no"),
    ]
    rejection_signed = [
        row(1, "approval", "rejected", "bob", "no"),
        row(2, "lifecycle", "rejected:approver_rejected", "bob", "no", proof),
    ]
    for rows in (vote_signed, rejection_signed):
        assert identity_marks(rows) == [f"signed: {fingerprint}"] * 2
    # Another actor's rejection row, or a row that is not its pair, is not covered.
    other = [
        row(1, "approval", "rejected", "bob", "no", proof),
        row(2, "lifecycle", "rejected:approver_rejected", "carol", "no"),
        row(3, "lifecycle", "canceled", "bob", "no"),
    ]
    assert identity_marks(other) == [f"signed: {fingerprint}", CLAIMED_MARK, CLAIMED_MARK]
    system = [row(1, "lifecycle", "executed", "system"), row(2, "approval", "refused_attempt", "x")]
    assert identity_marks(system) == ["", ""]


def test_a_clean_proof_holds_and_each_check_names_its_problem(
    alice_key: SshKey, bob_key: SshKey, stranger_key: SshKey, directory: Directory
) -> None:
    good = sign(alice_key, REQUEST, "submit", "alice", "why")
    submitted = row(1, "lifecycle", "submitted", "alice", "why", good)
    assert check_proof(submitted, good, REQUEST, directory) is None

    cases: list[tuple[RecordedDecision, SignedProof, ProblemKind, str]] = [
        (
            submitted,
            good.model_copy(update={"envelope": {"action": "submit"}}),
            ProblemKind.MALFORMED_PROOF,
            "the stored proof does not parse: malformed envelope:",
        ),
        (
            submitted,
            good.model_copy(update={"signature": "not a signature"}),
            ProblemKind.MALFORMED_PROOF,
            "the stored proof does not parse: malformed signature:",
        ),
        (
            submitted,
            good.model_copy(update={"envelope": {**good.envelope, "comment": "other"}}),
            ProblemKind.BAD_SIGNATURE,
            f"the signature by {alice_key.fingerprint()} does not verify over the stored envelope",
        ),
        (
            submitted,
            sign(stranger_key, REQUEST, "submit", "alice", "why"),
            ProblemKind.UNKNOWN_KEY,
            f"signing key {stranger_key.fingerprint()} belongs to no user of the directory",
        ),
        (
            submitted,
            sign(bob_key, REQUEST, "submit", "alice", "why"),
            ProblemKind.KEY_OF_ANOTHER_USER,
            f"signing key {bob_key.fingerprint()} belongs to 'bob', not to the decision's actor",
        ),
        (
            submitted,
            sign(alice_key, REQUEST, "approve", "alice", "why"),
            ProblemKind.ENVELOPE_MISMATCH,
            "the envelope's action is 'approve', the stored decision's is 'submit'",
        ),
        (
            row(1, "lifecycle", "executed", "alice", "why", good),
            good,
            ProblemKind.ENVELOPE_MISMATCH,
            "the row is a lifecycle executed decision by 'alice', which no person signs",
        ),
        (
            submitted,
            sign(
                alice_key,
                REQUEST.model_copy(update={"expected_version": 3}),
                "submit",
                "alice",
                "why",
            ),
            ProblemKind.ENVELOPE_MISMATCH,
            "the envelope's base_version is 3, the stored request's is None",
        ),
    ]
    for decision, proof, kind, detail in cases:
        found = check_proof(decision, proof, REQUEST, directory)
        assert found is not None, (kind, detail)
        assert found[0] == kind
        assert found[1].startswith(detail), found


def test_refused_attempts_are_not_checked(bob_key: SshKey, directory: Directory) -> None:
    """A refused attempt counted for nothing: even a proof that fails is not a problem."""
    bad = sign(bob_key, REQUEST, "approve", "bob", "x").model_copy(update={"signature": "junk"})
    report = RecordVerification()
    rows = [row(1, "approval", "refused_attempt", "bob", "x", bad)]
    audit_signatures("r1", rows, REQUEST, SignatureAudit(directory, required=True), report)
    assert (report.problems, report.signed, report.claimed) == ([], 0, [])


def test_a_submit_refused_for_its_signature_is_not_checked(directory: Directory) -> None:
    """The worker refused it (``rejected:signature_refused``): it never counted."""
    rows = [
        row(1, "lifecycle", "submitted", "alice", "why"),
        row(2, "lifecycle", "rejected:signature_refused", "system", "unsigned"),
    ]
    report = RecordVerification()
    audit_signatures("r1", rows, REQUEST, SignatureAudit(directory, required=True), report)
    assert (report.problems, report.signed, report.claimed) == ([], 0, [])
    assert identity_marks(rows) == [CLAIMED_MARK, ""]
    unsigned = RecordVerification()
    audit_signatures("r1", rows[:1], REQUEST, SignatureAudit(directory, required=True), unsigned)
    assert [p.kind for p in unsigned.problems] == [ProblemKind.UNSIGNED]
