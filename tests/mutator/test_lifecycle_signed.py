"""Signed votes and submits in the lifecycle core: proofs on decisions, the pure re-checks
(a spent nonce, a base version that moved) and the ``signature_refused`` rejection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutator import lifecycle
from mutator.contracts import CancelInput, RejectInput
from mutator.decisions import EvaluationOutcome
from mutator.models import ItemOutcome, MutationRequest, RejectionCode, RequestStatus, SignedProof
from tests.helpers.lifecycle import (
    REQUESTER,
    approve_input,
    at,
    codes,
    evaluation,
    pending,
    submitted,
)


def proof(nonce: str = "a" * 32, base_version: int | None = 4, actor: str = "alice") -> SignedProof:
    """A proof as a verified signature leaves it (the lifecycle does not verify)."""
    envelope: dict[str, Any] = {"actor": actor, "nonce": nonce, "base_version": base_version}
    return SignedProof(envelope=envelope, signature="sig", fingerprint=f"SHA256:{actor}")


def _snapshot(request: MutationRequest) -> str:
    return request.model_dump_json()


def test_a_signed_approval_stores_its_proof_on_its_decision() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2), proof=proof())
    assert request.decisions[-1].code == "approved"
    assert request.decisions[-1].proof == proof()
    lifecycle.approve(request, approve_input("bob"), at(2))
    assert request.decisions[-1].proof is None


def test_signed_reject_and_cancel_store_their_proofs() -> None:
    rejected = pending()
    vote = RejectInput(actor="carol", reason="no")
    lifecycle.reject_vote(rejected, vote, at(2), proof=proof(actor="carol"))
    assert codes(rejected)[-2:] == ["approval/rejected", "lifecycle/rejected:approver_rejected"]
    assert rejected.decisions[-2].proof == proof(actor="carol")
    canceled = pending()
    lifecycle.cancel(canceled, CancelInput(actor=REQUESTER), at(2), proof=proof(actor=REQUESTER))
    assert canceled.status == RequestStatus.CANCELED
    assert canceled.decisions[-1].proof == proof(actor=REQUESTER)


def test_a_spent_nonce_is_refused_and_changes_nothing() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2), proof=proof())
    before = _snapshot(request)
    refusal = lifecycle.approve_refusal(request, approve_input("bob"), admitted=True, proof=proof())
    assert refusal is not None
    assert refusal.startswith("signature refused (replayed_nonce): envelope nonce " + "a" * 32)
    with pytest.raises(lifecycle.VoteRefused, match="replayed_nonce"):
        lifecycle.approve(request, approve_input("bob"), at(3), proof=proof(actor="bob"))
    vote = RejectInput(actor="carol", reason="no")
    with pytest.raises(lifecycle.VoteRefused, match="replayed_nonce"):
        lifecycle.reject_vote(request, vote, at(3), proof=proof())
    assert _snapshot(request) == before


def test_a_vote_signed_against_another_base_version_is_refused() -> None:
    request = pending()
    assert request.base_version == 4
    before = _snapshot(request)
    with pytest.raises(
        lifecycle.VoteRefused,
        match=r"signature refused \(envelope_mismatch\): envelope base_version is 3 but the "
        r"request's is 4",
    ):
        lifecycle.approve(request, approve_input("alice"), at(2), proof=proof(base_version=3))
    with pytest.raises(lifecycle.VoteRefused, match="envelope_mismatch"):
        lifecycle.cancel(request, CancelInput(actor=REQUESTER), at(2), proof=proof(base_version=3))
    assert _snapshot(request) == before


def test_the_submits_proof_goes_onto_the_submitted_decision() -> None:
    request = submitted()
    signed = evaluation(EvaluationOutcome.ALLOW)
    signed.proof = proof(actor=REQUESTER, base_version=None)
    lifecycle.admit(request, signed, at(1))
    assert request.decisions[0].code == "submitted"
    assert request.decisions[0].proof == signed.proof
    assert request.status == RequestStatus.APPROVED


def test_a_refused_submit_signature_rejects_and_runs_no_item() -> None:
    request = submitted(batch=True)
    why = "signature refused (signature_required): identity is signed: submit needs a signature"
    lifecycle.admit(request, evaluation(EvaluationOutcome.SIGNATURE_REFUSED, reason=why), at(1))
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert (request.rejection.code, request.rejection.reason) == (
        RejectionCode.SIGNATURE_REFUSED,
        why,
    )
    assert codes(request)[-1] == "lifecycle/rejected:signature_refused"
    assert {item.outcome for item in request.items} == {ItemOutcome.NOT_RUN}
    assert request.decisions[0].proof is None


def test_signing_a_submission_needs_its_submitted_decision() -> None:
    request = submitted()
    request.decisions.clear()
    with pytest.raises(lifecycle.IllegalTransition, match="sign a submission"):
        lifecycle.sign_submission(request, proof())


@given(
    votes=st.lists(
        st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.sampled_from(["1", "2", "3"])),
        max_size=8,
    )
)
def test_no_nonce_counts_twice(votes: list[tuple[str, str]]) -> None:
    request = pending()
    for actor, nonce in votes:
        signed = proof(nonce=nonce * 32, actor=actor)
        if (
            lifecycle.approve_refusal(request, approve_input(actor), admitted=True, proof=signed)
            is None
        ):
            lifecycle.approve(request, approve_input(actor), at(2), proof=signed)
    nonces = [d.proof.envelope["nonce"] for d in request.decisions if d.proof is not None]
    assert len(nonces) == len(set(nonces))
    assert len(request.approvals) == len(nonces)
