"""Signed decisions in the store, on SQLite and PostgreSQL: their proofs round-trip, the chain
covers them, and the verification re-checks every stored signature against a directory."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from mutator.identity.audit import SignatureAudit
from mutator.identity.directory import Directory, parse_directory
from mutator.record import (
    ChainKind,
    ClaimedDecision,
    ProblemKind,
    RecordVerification,
    SignatureCheck,
)
from mutator.store import Store
from tests.helpers.signed_records import (
    APPROVAL,
    SIGNED_ROWS,
    Keys,
    decision,
    make_keys,
    sign,
    signed_record,
)
from tests.mutator.identity.keys import SshKey

D = ChainKind.DECISIONS
Problem = tuple[str, int, ProblemKind]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def directory(alice: SshKey | None, bob: SshKey | None) -> Directory:
    def entry(key: SshKey | None) -> dict[str, list[str]]:
        return {"roles": ["sre"], "keys": [key.public_line] if key else []}

    return parse_directory({"alice": entry(alice), "bob": entry(bob), "carol": entry(None)})


@pytest.fixture
def signed(store: Store, keys: Keys) -> Store:
    signed_record(store, keys)
    return store


def verify(store: Store, keys: Keys, *, required: bool = True) -> RecordVerification:
    audit = SignatureAudit(directory(keys.alice, keys.bob), required=required)
    return store.verify_record(signatures=audit)


def found(report: RecordVerification) -> set[Problem]:
    return {(p.chain_id, p.position, p.kind) for p in report.problems}


def run_sql(store: Store, statement: str, **params: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def proof_row(store: Store, request_id: str, seq: int) -> dict[str, str]:
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT proof_envelope, proof_signature, proof_fingerprint FROM mutator_decisions "
                "WHERE request_id = :r AND seq = :s"
            ),
            {"r": request_id, "s": seq},
        ).one()
    return dict(row._mapping)


def test_proofs_round_trip_through_requests_and_the_audit(signed: Store, keys: Keys) -> None:
    request = signed.get_request("approved")
    assert request is not None
    submit, vote = request.decisions[0].proof, request.decisions[2].proof
    assert submit is not None
    assert vote is not None
    assert submit.fingerprint == keys.alice.fingerprint()
    assert vote.fingerprint == keys.bob.fingerprint()
    assert vote.envelope["action"] == "approve"
    assert vote.envelope["comment"] == "looks right"
    assert [d.proof is None for d in request.decisions] == [False, True, False, True, True]
    entries = {(e.request_id, e.seq): e for e in signed.audit()}
    for request_id, seq, _ in SIGNED_ROWS:
        assert entries[(request_id, seq)].proof is not None
    assert entries[("approved", 3)].proof == vote
    assert entries[("claimed", 1)].proof is None
    # The envelope is stored as RFC 8785 JSON text.
    stored = proof_row(signed, "approved", 3)
    assert stored["proof_envelope"].startswith('{"action":"approve","actor":"bob",')
    assert stored["proof_fingerprint"] == keys.bob.fingerprint()


def test_a_clean_signed_record_verifies(signed: Store, keys: Keys) -> None:
    """Every stored signature verifies; only carol's unsigned submit is a problem."""
    report = verify(signed, keys)
    assert found(report) == {("claimed", 1, ProblemKind.UNSIGNED)}
    [unsigned] = report.problems
    assert (unsigned.code, unsigned.actor) == ("submitted", "carol")
    assert unsigned.detail == "a submit by 'carol' without a signature: the name was only claimed"
    assert report.signed == len(SIGNED_ROWS)
    assert report.signatures == SignatureCheck.REQUIRED

    claimed = verify(signed, keys, required=False)
    assert claimed.ok, claimed.problems
    assert claimed.signatures == SignatureCheck.CLAIMED_ALLOWED
    assert claimed.claimed == [
        ClaimedDecision(request_id="claimed", seq=1, code="submitted", actor="carol")
    ]

    chains_only = signed.verify_record()
    assert chains_only.ok
    assert (chains_only.signatures, chains_only.signed, chains_only.claimed) == (
        SignatureCheck.NOT_CHECKED,
        0,
        [],
    )
    assert verify(signed, keys).decisions == chains_only.decisions == 14


def test_unknown_key_after_the_key_is_removed(signed: Store, keys: Keys) -> None:
    audit = SignatureAudit(directory(keys.alice, None), required=False)
    report = signed.verify_record(signatures=audit)
    assert found(report) == {
        ("approved", 3, ProblemKind.UNKNOWN_KEY),
        ("rejected", 3, ProblemKind.UNKNOWN_KEY),
    }
    assert report.problems[0].detail == (
        f"signing key {keys.bob.fingerprint()} belongs to no user of the directory"
    )
    assert (report.problems[0].code, report.problems[0].actor) == ("approved", "bob")


PROOF_COLUMNS = "proof_envelope = :e, proof_signature = :s, proof_fingerprint = :f"
WHERE = "WHERE request_id = :r AND seq = :q"


def test_an_edited_fingerprint_is_named(signed: Store, keys: Keys) -> None:
    run_sql(
        signed,
        f"UPDATE mutator_decisions SET proof_fingerprint = 'SHA256:forged' {WHERE}",
        r="approved",
        q="3",
    )
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("approved", 3, ProblemKind.EDITED),
        ("approved", 3, ProblemKind.BAD_SIGNATURE),
    }
    bad = next(p for p in report.problems if p.kind == ProblemKind.BAD_SIGNATURE)
    assert bad.detail == (
        f"the stored fingerprint SHA256:forged is not the signing key's ({keys.bob.fingerprint()})"
    )


def test_an_edited_envelope_no_longer_verifies(signed: Store, keys: Keys) -> None:
    envelope = proof_row(signed, "approved", 3)["proof_envelope"]
    forged = envelope.replace('"comment":"looks right"', '"comment":"approved twice"')
    assert forged != envelope
    run_sql(
        signed,
        f"UPDATE mutator_decisions SET proof_envelope = :e {WHERE}",
        e=forged,
        r="approved",
        q="3",
    )
    report = verify(signed, keys)
    assert {("approved", 3, ProblemKind.EDITED), ("approved", 3, ProblemKind.BAD_SIGNATURE)} <= (
        found(report)
    )
    bad = next(p for p in report.problems if p.kind == ProblemKind.BAD_SIGNATURE)
    assert bad.detail.startswith(
        f"the signature by {keys.bob.fingerprint()} does not verify over the stored envelope"
    )


def test_a_nulled_signature_is_named(signed: Store, keys: Keys) -> None:
    run_sql(
        signed, f"UPDATE mutator_decisions SET proof_signature = NULL {WHERE}", r="canceled", q="3"
    )
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("canceled", 3, ProblemKind.EDITED),
        ("canceled", 3, ProblemKind.MALFORMED_PROOF),
    }


def test_a_removed_proof_breaks_the_chain_and_leaves_the_decision_unsigned(
    signed: Store, keys: Keys
) -> None:
    run_sql(
        signed,
        "UPDATE mutator_decisions SET proof_envelope = NULL, proof_signature = NULL, "
        f"proof_fingerprint = NULL {WHERE}",
        r="approved",
        q="1",
    )
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("approved", 1, ProblemKind.EDITED),
        ("approved", 1, ProblemKind.UNSIGNED),
    }
    # Without a directory the chain alone still names the row.
    assert found(signed.verify_record()) == {("approved", 1, ProblemKind.EDITED)}


def test_proofs_swapped_between_rows_are_named(signed: Store, keys: Keys) -> None:
    """alice's submit and bob's approval trade proofs: both rows' hashes break, and each key
    belongs to the other user."""
    alice, bob = proof_row(signed, "approved", 1), proof_row(signed, "approved", 3)
    for seq, proof in (("1", bob), ("3", alice)):
        run_sql(
            signed,
            f"UPDATE mutator_decisions SET {PROOF_COLUMNS} {WHERE}",
            e=proof["proof_envelope"],
            s=proof["proof_signature"],
            f=proof["proof_fingerprint"],
            r="approved",
            q=seq,
        )
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("approved", 1, ProblemKind.EDITED),
        ("approved", 1, ProblemKind.KEY_OF_ANOTHER_USER),
        ("approved", 3, ProblemKind.EDITED),
        ("approved", 3, ProblemKind.KEY_OF_ANOTHER_USER),
    }


@pytest.mark.parametrize("signer", ["bob", "stranger"])
def test_an_envelope_signed_by_another_key_is_named(signed: Store, keys: Keys, signer: str) -> None:
    """alice's cancel replaced by the same cancel signed with another key."""
    request = signed.get_request("canceled")
    assert request is not None
    key = keys.bob if signer == "bob" else keys.stranger
    forged = sign(key, request, "cancel", "alice", "wrong account")
    run_sql(
        signed,
        f"UPDATE mutator_decisions SET {PROOF_COLUMNS} {WHERE}",
        e=json.dumps(forged.envelope),
        s=forged.signature,
        f=forged.fingerprint,
        r="canceled",
        q="3",
    )
    kind = ProblemKind.KEY_OF_ANOTHER_USER if signer == "bob" else ProblemKind.UNKNOWN_KEY
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("canceled", 3, ProblemKind.EDITED),
        ("canceled", 3, kind),
    }
    if signer == "bob":
        problem = next(p for p in report.problems if p.kind == kind)
        assert problem.detail == (
            f"signing key {keys.bob.fingerprint()} belongs to 'bob', not to the decision's "
            "actor 'alice'"
        )


def test_deleted_and_reordered_signed_rows_are_named(signed: Store, keys: Keys) -> None:
    run_sql(signed, "DELETE FROM mutator_decisions WHERE request_id = 'approved' AND seq = 3")
    for statement in (
        "UPDATE mutator_decisions SET seq = 99 WHERE request_id = 'canceled' AND seq = 1",
        "UPDATE mutator_decisions SET seq = 1 WHERE request_id = 'canceled' AND seq = 3",
        "UPDATE mutator_decisions SET seq = 3 WHERE request_id = 'canceled' AND seq = 99",
    ):
        run_sql(signed, statement)
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("approved", 3, ProblemKind.DELETED),
        ("canceled", 1, ProblemKind.REORDERED),
        ("canceled", 3, ProblemKind.REORDERED),
    }
    reordered = next(p for p in report.problems if p.chain_id == "canceled" and p.position == 1)
    assert (reordered.code, reordered.actor) == ("canceled", "alice")


def test_a_proof_for_another_decision_is_an_envelope_mismatch(store: Store, keys: Keys) -> None:
    """Written by the store itself (the chain holds): bob's approval of another request, and
    a proof whose comment is not the decision's reason, are named."""
    signed_record(store, keys)
    request = store.get_request("rejected")
    assert request is not None
    other = sign(keys.bob, request, "approve", "bob", "fine", request_id="approved")
    wrong_comment = sign(keys.bob, request, "approve", "bob", "something else")
    later = request.model_copy(
        update={
            "revision": 2,
            "decisions": [
                *request.decisions,
                decision(APPROVAL, "approved", "bob", "fine", seconds=5, proof=other),
                decision(APPROVAL, "approved", "bob", "fine", seconds=5, proof=wrong_comment),
            ],
        }
    )
    store.save_request(later)
    report = verify(store, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("rejected", 5, ProblemKind.ENVELOPE_MISMATCH),
        ("rejected", 6, ProblemKind.ENVELOPE_MISMATCH),
    }
    details = [p.detail for p in report.problems if p.kind == ProblemKind.ENVELOPE_MISMATCH]
    assert details == [
        "the envelope's request_id is 'approved', the stored decision's is 'rejected'",
        "the envelope's comment is 'something else', the stored decision's is 'fine'",
    ]


def test_an_edited_request_payload_no_longer_matches_its_signatures(
    signed: Store, keys: Keys
) -> None:
    """The request's body is not in the chain; the signed payload hash catches the edit."""
    with signed.engine.connect() as conn:
        body = conn.execute(
            text("SELECT body FROM mutator_requests WHERE request_id = 'approved'")
        ).scalar_one()
    run_sql(
        signed,
        "UPDATE mutator_requests SET body = :b WHERE request_id = 'approved'",
        b=body.replace('"amount":5', '"amount":5000'),
    )
    report = verify(signed, keys)
    assert found(report) - {("claimed", 1, ProblemKind.UNSIGNED)} == {
        ("approved", 1, ProblemKind.ENVELOPE_MISMATCH),
        ("approved", 3, ProblemKind.ENVELOPE_MISMATCH),
    }
    assert report.problems[1].detail.startswith("the envelope's payload_sha256 is ")


def test_verification_keeps_to_the_request_asked_for(signed: Store, keys: Keys) -> None:
    audit = SignatureAudit(directory(keys.alice, keys.bob), required=True)
    report = signed.verify_record(request_id="approved", signatures=audit)
    assert report.ok, report.problems
    assert (report.requests, report.signed) == (1, 2)
    claimed = signed.verify_record(request_id="claimed", signatures=audit)
    assert found(claimed) == {("claimed", 1, ProblemKind.UNSIGNED)}


def test_nothing_is_changed_by_verifying(signed: Store, keys: Keys) -> None:
    before = (signed.audit(), signed.get_request("approved"), signed.get_state("acct-1"))
    verify(signed, keys)
    assert (signed.audit(), signed.get_request("approved"), signed.get_state("acct-1")) == before
