"""identity="signed" with dependencies: the submit's signature is checked before it waits."""

from __future__ import annotations

from mutator.models import PendingReason, RejectionCode, RequestStatus
from tests.helpers.signing import SignedWorld


async def _executed_dependency(world: SignedWorld, request_id: str) -> None:
    first = await world.submit(
        request_id, f"st-{request_id}", "reviewed.add", {"amount": 1}, "dave"
    )
    assert first.pending_reason == PendingReason.APPROVAL


async def test_a_signed_submit_waits_then_executes_with_its_proof(world: SignedWorld) -> None:
    await _executed_dependency(world, "sd-first")
    second = await world.submit(
        "sd-second", "st-sd-first", "open.add", {"amount": 2}, "dave", after=["sd-first"]
    )
    assert (second.status, second.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.DEPENDENCY,
    )
    await world.vote("sd-first", "approve", "alice")
    await world.vote("sd-first", "approve", "bob")
    done = await world.settled("sd-second")
    assert done.status == RequestStatus.EXECUTED, done.rejection
    assert done.resulting_version == 2
    assert done.decisions[0].code == "submitted"
    assert done.decisions[0].proof is not None


async def test_an_unsigned_submit_is_refused_before_it_waits(world: SignedWorld) -> None:
    await _executed_dependency(world, "su-first")
    second = await world.submit(
        "su-second",
        "st-su-first",
        "open.add",
        {"amount": 2},
        "dave",
        unsigned=True,
        after=["su-first"],
    )
    assert second.status == RequestStatus.REJECTED
    assert second.rejection is not None
    assert second.rejection.code == RejectionCode.SIGNATURE_REFUSED
    assert [d.code for d in second.decisions] == ["submitted", "rejected:signature_refused"]
    assert [g.status for g in second.gates] == []
    await world.vote("su-first", "approve", "alice")
    await world.vote("su-first", "approve", "bob")
    assert (await world.settled("su-first")).status == RequestStatus.EXECUTED
    assert (await world.settled("su-second")).status == RequestStatus.REJECTED
    state = world.store.get_state("st-su-first")
    assert state is not None
    assert state.version == 1


async def test_a_signature_that_does_not_cover_after_is_refused(world: SignedWorld) -> None:
    # Signed over the change alone: whoever added the dependency in transit is not the signer.
    await _executed_dependency(world, "sa-first")
    second = await world.submit(
        "sa-second",
        "st-sa-first",
        "open.add",
        {"amount": 2},
        "dave",
        after=["sa-first"],
        signs_payload={"amount": 2},
    )
    assert second.status == RequestStatus.REJECTED
    assert second.rejection is not None
    assert second.rejection.code == RejectionCode.SIGNATURE_REFUSED
    assert "payload" in second.rejection.reason
    state = world.store.get_state("st-sa-first")
    assert state is None or state.version == 0
