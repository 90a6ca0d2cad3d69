"""identity="signed": the worker verifies every vote sent as an update, on a real server.

Each bad signature is refused with its own message, and the request (status, approvals,
decisions, revision in the store) and the state stay as they were.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from mutator.contracts import ERR_REFUSED
from mutator.identity import registry
from mutator.models import MutationRequest, RequestStatus
from tests.helpers.signing import (
    SignedWorld,
    now,
    sign,
    stored_snapshot,
    vote_envelope,
)


async def _pending(world: SignedWorld, request_id: str, mutation: str = "reviewed.add") -> None:
    req = await world.submit(request_id, f"st-{request_id}", mutation, {"amount": 2}, "dave")
    assert (req.status, req.pending_reason) == (RequestStatus.PENDING, "approval")


async def _refused(world: SignedWorld, request_id: str, match: str, **vote: object) -> None:
    """The vote fails its update with ERR_REFUSED and ``match``; nothing stored changes."""
    before = stored_snapshot(world.store, request_id, f"st-{request_id}")
    live_before = await world.live(request_id)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await world.vote(request_id, **vote)  # type: ignore[arg-type]
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == ERR_REFUSED
    assert match in cause.message, cause.message
    assert stored_snapshot(world.store, request_id, f"st-{request_id}") == before
    live = await world.live(request_id)
    assert (live.approvals, live.decisions) == (live_before.approvals, live_before.decisions)


def _proofs(request: MutationRequest) -> list[tuple[str, str, str | None]]:
    return [
        (d.code, d.actor, d.proof.fingerprint if d.proof else None)
        for d in request.decisions
        if d.category == "approval" or d.code in ("submitted", "canceled")
    ]


async def test_two_signed_approvals_execute_with_proofs_on_the_decisions(
    world: SignedWorld,
) -> None:
    await _pending(world, "sv-ok")
    await world.vote("sv-ok", "approve", "alice", "lgtm")
    await world.vote("sv-ok", "approve", "bob")
    done = await world.settled("sv-ok")
    assert done.status == RequestStatus.EXECUTED
    fp = {user: s.public_key.fingerprint for user, s in world.signers.items()}
    assert _proofs(done) == [
        ("submitted", "dave", fp["dave"]),
        ("approved", "alice", fp["alice"]),
        ("approved", "bob", fp["bob"]),
    ]
    approval = next(d for d in done.decisions if d.actor == "alice")
    assert approval.proof is not None
    assert approval.proof.envelope["comment"] == "lgtm"
    assert approval.proof.envelope["base_version"] == 0
    state = world.store.get_state("st-sv-ok")
    assert state is not None
    assert state.data == {"value": 2}


@pytest.mark.parametrize(
    ("vote", "match"),
    [
        (
            {"action": "approve", "actor": "alice", "unsigned": True},
            "signature refused (signature_required): identity is signed: approve needs a "
            "signature, e.g. `mutator approve ... --key PATH`",
        ),
        (
            {"action": "approve", "actor": "alice", "signer": "mallory"},
            "signature refused (unknown_key): signing key",
        ),
        (
            {"action": "approve", "actor": "alice", "signer": "bob"},
            "signature refused (key_of_another_user): signing key",
        ),
        (
            {"action": "approve", "actor": "alice", "payload": {"amount": 2000}},
            "signature refused (envelope_mismatch): envelope payload_sha256",
        ),
        (
            {"action": "approve", "actor": "alice", "base_version": 7},
            "signature refused (envelope_mismatch): envelope base_version is 7 but the "
            "request's is 0",
        ),
        (
            {"action": "approve", "actor": "alice", "now": now() - timedelta(hours=1)},
            "signature refused (issued_at_out_of_tolerance): envelope issued_at",
        ),
        (
            {"action": "approve", "actor": "alice", "text": "sure", "comment": "other"},
            "signature refused (envelope_mismatch): envelope comment is 'other'",
        ),
        (
            {"action": "reject", "actor": "carol", "text": "no", "unsigned": True},
            "identity is signed: reject needs a signature",
        ),
        (
            {"action": "cancel", "actor": "dave", "text": "typo", "unsigned": True},
            "identity is signed: cancel needs a signature",
        ),
    ],
    ids=[
        "unsigned",
        "unknown-key",
        "key-of-another-user",
        "tampered-payload-hash",
        "old-base-version",
        "expired-issued-at",
        "comment-not-the-signed-one",
        "unsigned-reject",
        "unsigned-cancel",
    ],
)
async def test_a_bad_signed_vote_is_refused_and_changes_nothing(
    world: SignedWorld, vote: dict[str, object], match: str, request: pytest.FixtureRequest
) -> None:
    request_id = f"sv-bad-{request.node.callspec.id}"
    await _pending(world, request_id)
    text = vote.pop("text", "")
    comment = vote.pop("comment", None)
    if comment is not None:
        live = await world.live(request_id)
        envelope, signature = sign(
            world.signers["alice"], vote_envelope(live, "approve", "alice", str(comment))
        )
        vote = {**vote, "envelope": envelope, "signature": signature}
    await _refused(world, request_id, match, text=text, **vote)


async def test_malformed_signature_and_envelope_are_refused(world: SignedWorld) -> None:
    await _pending(world, "sv-malformed")
    live = await world.live("sv-malformed")
    envelope, signature = sign(world.signers["alice"], vote_envelope(live, "approve", "alice"))
    await _refused(
        world,
        "sv-malformed",
        "signature refused (malformed_signature): malformed signature: not an armored SSH "
        "signature",
        action="approve",
        actor="alice",
        envelope=envelope,
        signature="not a signature",
    )
    broken = {**envelope, "nonce": "short"}
    del broken["state_id"]
    await _refused(
        world,
        "sv-malformed",
        "signature refused (malformed_envelope): malformed envelope: state_id: Field required",
        action="approve",
        actor="alice",
        envelope=broken,
        signature=signature,
    )
    await _refused(
        world,
        "sv-malformed",
        "signature refused (malformed_envelope): malformed envelope: a signature was sent "
        "without its envelope",
        action="approve",
        actor="alice",
        envelope=None,
        signature=signature,
        unsigned=True,
    )


async def test_a_replayed_envelope_is_refused(world: SignedWorld) -> None:
    await _pending(world, "sv-replay")
    live = await world.live("sv-replay")
    envelope, signature = sign(world.signers["alice"], vote_envelope(live, "approve", "alice"))
    await world.vote("sv-replay", "approve", "alice", envelope=envelope, signature=signature)
    # The same signed envelope again: its nonce is spent (the signature is checked before
    # the double vote would be noticed).
    await _refused(
        world,
        "sv-replay",
        "signature refused (replayed_nonce): envelope nonce",
        action="approve",
        actor="alice",
        envelope=envelope,
        signature=signature,
    )
    # The submit's own envelope, re-used as an approval by its signer.
    submitted = (await world.live("sv-replay")).decisions[0]
    assert submitted.proof is not None
    await _refused(
        world,
        "sv-replay",
        "signature refused (envelope_mismatch): envelope action is 'submit'",
        action="approve",
        actor="carol",
        envelope=submitted.proof.envelope,
        signature=submitted.proof.signature,
    )


async def test_signed_reject_and_cancel_end_the_request_with_proofs(world: SignedWorld) -> None:
    await _pending(world, "sv-reject")
    rejected = await world.vote("sv-reject", "reject", "carol", "not this week")
    assert rejected.status == RequestStatus.REJECTED
    fp = {user: s.public_key.fingerprint for user, s in world.signers.items()}
    assert ("rejected", "carol", fp["carol"]) in _proofs(rejected)
    await _pending(world, "sv-cancel")
    canceled = await world.vote("sv-cancel", "cancel", "dave", "typo")
    assert canceled.status == RequestStatus.CANCELED
    assert ("canceled", "dave", fp["dave"]) in _proofs(canceled)
    assert world.store.get_state("st-sv-reject") is None
    assert world.store.get_state("st-sv-cancel") is None


async def test_a_worker_without_identity_settings_refuses_every_signature(
    world: SignedWorld,
) -> None:
    """Fail closed: validators with no settings for their task queue cannot check a signature."""
    await _pending(world, "sv-closed")
    config = registry.lookup(world.task_queue)
    assert config is not None
    registry.unregister(world.task_queue)
    try:
        await _refused(
            world,
            "sv-closed",
            "signature refused (no_identity_settings): no identity settings are registered",
            action="approve",
            actor="alice",
        )
    finally:
        registry.register(world.task_queue, config)
    await world.vote("sv-closed", "approve", "alice")
    assert [a.actor for a in (await world.live("sv-closed")).approvals] == ["alice"]
