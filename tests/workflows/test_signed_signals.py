"""identity="signed": signals go through the same checks, by the mutator.verify_vote activity.

A signal cannot answer: a refused one is recorded as a ``refused_attempt`` with the reason
and counts for nothing; a good one counts, its proof on its decision. The histories replay.
"""

from __future__ import annotations

from mutator.models import MutationRequest, RequestStatus
from tests.helpers.replays import assert_replays
from tests.helpers.signing import SignedWorld
from tests.helpers.workers import assert_eventually


def _refused_attempts(request: MutationRequest) -> list[tuple[str, str]]:
    return [(d.actor, d.reason) for d in request.decisions if d.code == "refused_attempt"]


async def test_bad_signals_are_refused_attempts_and_good_ones_count(world: SignedWorld) -> None:
    req = await world.submit("sg-1", "st-sg-1", "reviewed.add", {"amount": 4}, "dave")
    assert req.status == RequestStatus.PENDING
    await world.signal("sg-1", "approve", "alice", unsigned=True)
    await world.signal("sg-1", "approve", "bob", signer="carol")
    await world.signal("sg-1", "approve", "alice", base_version=9)

    async def three_refused() -> MutationRequest:
        live = await world.live("sg-1")
        assert len(_refused_attempts(live)) == 3
        return live

    live = await assert_eventually(three_refused)
    assert live.status == RequestStatus.PENDING
    assert live.approvals == []
    refused = _refused_attempts(live)
    assert refused[0] == (
        "alice",
        "approve: signature refused (signature_required): identity is signed: approve needs a "
        "signature, e.g. `mutator approve ... --key PATH`",
    )
    assert refused[1][0] == "bob"
    assert refused[1][1].startswith("approve: signature refused (key_of_another_user): signing key")
    assert refused[2][1].startswith(
        "approve: signature refused (envelope_mismatch): envelope base_version is 9 but the "
        "request's is 0"
    )
    stored = world.store.get_request("sg-1")
    assert stored is not None
    assert stored.approvals == []
    assert world.store.get_state("st-sg-1") is None

    await world.signal("sg-1", "approve", "alice", "ok")

    async def alice_counted() -> None:
        assert [a.actor for a in (await world.live("sg-1")).approvals] == ["alice"]

    await assert_eventually(alice_counted)
    await world.signal("sg-1", "approve", "bob")
    done = await world.settled("sg-1")
    assert done.status == RequestStatus.EXECUTED
    proofs = {d.actor: d.proof for d in done.decisions if d.code == "approved" and d.proof}
    assert proofs["alice"].fingerprint == world.signers["alice"].public_key.fingerprint
    assert proofs["bob"].fingerprint == world.signers["bob"].public_key.fingerprint
    await assert_replays([world.handle("sg-1")])


async def test_signed_reject_and_cancel_signals(world: SignedWorld) -> None:
    await world.submit("sg-rej", "st-sg-rej", "reviewed.add", {"amount": 1}, "dave")
    await world.signal("sg-rej", "reject", "carol", "no", unsigned=True)
    await world.signal("sg-rej", "reject", "carol", "not now")
    rejected = await world.settled("sg-rej")
    assert rejected.status == RequestStatus.REJECTED
    assert _refused_attempts(rejected)[0][1].startswith(
        "reject: signature refused (signature_required)"
    )
    await world.submit("sg-can", "st-sg-can", "reviewed.add", {"amount": 1}, "dave")
    await world.signal("sg-can", "cancel", "dave", "typo")
    canceled = await world.settled("sg-can")
    assert canceled.status == RequestStatus.CANCELED
    assert canceled.decisions[-1].proof is not None
    await assert_replays([world.handle("sg-rej"), world.handle("sg-can")])
