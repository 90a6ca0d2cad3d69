"""identity="signed": the worker verifies the submit's signature before anything runs.

A refused submit ends ``rejected`` (``signature_refused``) with the failed check as its
reason; nothing is evaluated or executed, and the state is untouched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.client_submission import start_request
from mutator.identity.envelope import make_envelope
from mutator.identity.requests import signed_payload
from mutator.identity.signing import KeyFileSigner, sign_envelope
from mutator.models import (
    BatchItem,
    BatchMode,
    MutationRequest,
    RejectionCode,
    RequestStatus,
    SubmitRequestInput,
    batch_state_id,
)
from mutator.store import Store
from tests.helpers.signing import SignedWorld, now, signed_app
from tests.helpers.workers import running_mutator


async def _refused(world: SignedWorld, request_id: str, match: str, **submit: Any) -> None:
    state_id = f"st-{request_id}"
    fields: dict[str, Any] = {"mutation": "open.add", "payload": {"amount": 1}, "actor": "dave"}
    fields.update(submit)
    req = await world.submit(request_id, state_id, **fields)
    assert req.status == RequestStatus.REJECTED
    assert req.rejection is not None
    assert req.rejection.code == RejectionCode.SIGNATURE_REFUSED
    assert match in req.rejection.reason, req.rejection.reason
    assert [d.code for d in req.decisions] == ["submitted", "rejected:signature_refused"]
    assert req.decisions[0].proof is None
    assert req.approvals == []
    assert world.store.get_state(state_id) is None
    assert world.store.history(state_id) == []


async def test_a_signed_submit_executes_with_its_proof(world: SignedWorld) -> None:
    req = await world.submit("ss-ok", "st-ss-ok", "open.add", {"amount": 3}, "dave", reason="go")
    assert req.status == RequestStatus.EXECUTED
    live = await world.live("ss-ok")
    submitted = live.decisions[0]
    assert submitted.code == "submitted"
    assert submitted.proof is not None
    assert submitted.proof.fingerprint == world.signers["dave"].public_key.fingerprint
    assert submitted.proof.envelope["comment"] == "go"
    state = world.store.get_state("st-ss-ok")
    assert state is not None
    assert state.data == {"value": 3}


async def test_a_signed_submit_waiting_for_votes_keeps_its_proof(world: SignedWorld) -> None:
    req = await world.submit("ss-pending", "st-ss-pending", "reviewed.add", {"amount": 1}, "dave")
    assert req.status == RequestStatus.PENDING
    live = await world.live("ss-pending")
    assert live.decisions[0].proof is not None


@pytest.mark.parametrize(
    ("submit", "match"),
    [
        (
            {"unsigned": True},
            "signature refused (signature_required): identity is signed: submit needs a "
            "signature, e.g. `mutator submit ... --key PATH`",
        ),
        # Alice signs a submit as dave, to approve her own change as herself afterwards.
        ({"signer": "alice"}, "signature refused (key_of_another_user): signing key"),
        ({"signer": "mallory"}, "signature refused (unknown_key): signing key"),
        (
            {"signs_payload": {"amount": 900}},
            "signature refused (envelope_mismatch): envelope payload_sha256",
        ),
        (
            {"base_version": 4},
            "signature refused (envelope_mismatch): envelope base_version is 4 but the "
            "request's is None",
        ),
        (
            {"reason": "a", "comment": "b"},
            "signature refused (envelope_mismatch): envelope comment is 'b' but the "
            "request's is 'a'",
        ),
        (
            {"now": now() - timedelta(hours=2)},
            "signature refused (issued_at_out_of_tolerance): envelope issued_at",
        ),
    ],
    ids=[
        "unsigned",
        "signed-as-someone-else",
        "unknown-key",
        "tampered-payload",
        "other-version",
        "other-reason",
        "expired",
    ],
)
async def test_a_bad_submit_signature_rejects_the_request(
    world: SignedWorld, submit: dict[str, Any], match: str, request: pytest.FixtureRequest
) -> None:
    await _refused(world, f"ss-bad-{request.node.callspec.id}", match, **submit)


async def test_a_malformed_submit_signature_or_envelope_rejects_it(world: SignedWorld) -> None:
    envelope = make_envelope(
        action="submit",
        request_id="ss-bad-signature",
        actor="dave",
        state_id="st-ss-bad-signature",
        mutation="open.add",
        payload={"amount": 1},
        base_version=None,
        now=now(),
    ).model_dump(mode="json")
    await _refused(
        world,
        "ss-bad-signature",
        "signature refused (malformed_signature): malformed signature: not an armored SSH",
        envelope=envelope,
        signature="forged",
    )
    await _refused(
        world,
        "ss-bad-envelope",
        "signature refused (malformed_envelope): malformed envelope: request_id: Field required",
        envelope={"action": "submit", "actor": "dave"},
        signature="forged",
    )


async def test_claimed_mode_still_checks_a_signature_it_is_given(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> None:
    app = signed_app(signers, identity="claimed")
    async with running_mutator(dev_env, sqlite_store, app) as client:
        world = SignedWorld(dev_env, sqlite_store, client.task_queue, signers)
        unsigned = await world.submit(
            "sc-1", "st-sc-1", "open.add", {"amount": 1}, "dave", unsigned=True
        )
        assert unsigned.status == RequestStatus.EXECUTED
        assert (await world.live("sc-1")).decisions[0].proof is None
        await _refused(world, "sc-2", "signature refused (key_of_another_user)", signer="alice")


async def _batch(world: SignedWorld, request_id: str, *, signed_items: int) -> MutationRequest:
    """A two-item batch, its envelope signed over its first ``signed_items`` items."""
    items = [
        BatchItem(state_id=f"st-{request_id}-a", mutation="open.add", payload={"amount": 1}),
        BatchItem(state_id=f"st-{request_id}-b", mutation="open.add", payload={"amount": 2}),
    ]
    state_id = batch_state_id(items)
    envelope = make_envelope(
        action="submit",
        request_id=request_id,
        actor="dave",
        state_id=state_id,
        mutation="batch",
        payload=signed_payload("batch", {}, items[:signed_items]),
        base_version=None,
        now=now(),
    )
    submitted = SubmitRequestInput(
        request_id=request_id,
        state_id=state_id,
        mutation="batch",
        payload={},
        requester="dave",
        batch_mode=BatchMode.ATOMIC,
        items=items,
        envelope=envelope.model_dump(mode="json"),
        signature=sign_envelope(world.signers["dave"], envelope),
    )
    started = await start_request(
        world.temporal,
        submitted,
        task_queue=world.task_queue,
        search_attributes=True,
        admission_timeout=30,
    )
    assert started is not None
    return await world.settled(request_id)


async def test_a_signed_batch_covers_every_item(world: SignedWorld) -> None:
    done = await _batch(world, "sb-1", signed_items=2)
    assert done.status == RequestStatus.EXECUTED
    assert done.decisions[0].proof is not None
    # Signed over the first item only: the other is not covered.
    refused = await _batch(world, "sb-2", signed_items=1)
    assert refused.status == RequestStatus.REJECTED
    assert refused.rejection is not None
    assert refused.rejection.code == RejectionCode.SIGNATURE_REFUSED
    assert "envelope payload_sha256" in refused.rejection.reason
    assert world.store.get_state("st-sb-2-a") is None
