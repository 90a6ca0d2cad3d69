"""identity="signed": an override of a soft deny is signed like a vote (action ``override``).

The update's validator checks it (refused at once, nothing recorded); a signal goes through
the ``mutator.verify_vote`` activity (refused: a ``refused_attempt``). An override that
counts keeps its proof, and the record (signatures included) verifies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator import Deny, MutationApp, PolicyContext, PolicyDecision
from mutator.client import MutatorClient
from mutator.errors import MutatorRefused
from mutator.identity.signing import KeyFileSigner
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.store import Store
from tests.helpers.replays import assert_replays
from tests.helpers.signing import SignedWorld, sign, signed_app, vote_envelope
from tests.helpers.workers import assert_eventually, running_mutator


def quarter_close(ctx: PolicyContext) -> PolicyDecision:
    return Deny("the quarter is closing", level="soft", override_roles={"finance"})


def _app(signers: dict[str, KeyFileSigner]) -> MutationApp:
    app = signed_app(signers)
    app.mutation("soft.add")(lambda state, payload: {**state, "value": payload["amount"]})
    app.policy("soft.add")(quarter_close)
    return app


@pytest.fixture
async def soft_world(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> AsyncIterator[SignedWorld]:
    async with running_mutator(dev_env, sqlite_store, _app(signers)) as client:
        yield SignedWorld(dev_env, sqlite_store, client.task_queue, signers)


def _client(world: SignedWorld, signer: str | None) -> MutatorClient:
    return MutatorClient(
        world.temporal,
        world.store,
        task_queue=world.task_queue,
        signer=world.signers[signer] if signer else None,
    )


async def test_a_signed_override_counts_and_bad_ones_are_refused(soft_world: SignedWorld) -> None:
    world = soft_world
    req = await world.submit("sovr-1", "st-sovr-1", "soft.add", {"amount": 5}, "dave")
    assert (req.status, req.pending_reason) == (RequestStatus.PENDING, PendingReason.OVERRIDE)
    before = await world.live("sovr-1")
    with pytest.raises(MutatorRefused, match=r"signature refused \(signature_required\)"):
        await _client(world, None).override("sovr-1", actor="carol", reason="signed off")
    with pytest.raises(MutatorRefused, match=r"signature refused \(key_of_another_user\)"):
        await _client(world, "bob").override("sovr-1", actor="carol", reason="signed off")
    assert await world.live("sovr-1") == before

    # A signal signed over another reason than it sends is a refused attempt.
    handle = world.handle("sovr-1")
    envelope, signature = sign(
        world.signers["carol"], vote_envelope(before, "override", "carol", "another reason")
    )
    await handle.signal(
        "override_signal",
        {"actor": "carol", "reason": "signed off", "envelope": envelope, "signature": signature},
    )

    async def refused() -> MutationRequest:
        live = await world.live("sovr-1")
        assert [d.code for d in live.decisions].count("refused_attempt") == 1
        return live

    live = await assert_eventually(refused)
    [reason] = [d.reason for d in live.decisions if d.code == "refused_attempt"]
    assert reason.startswith("override: signature refused (envelope_mismatch)")

    await _client(world, "carol").override("sovr-1", actor="carol", reason="signed off")
    done = await world.settled("sovr-1")
    assert done.status == RequestStatus.EXECUTED
    [overridden] = [d for d in done.decisions if d.code == "overridden"]
    assert (overridden.actor, overridden.reason) == ("carol", "signed off")
    assert overridden.proof is not None
    assert overridden.proof.envelope["action"] == "override"
    assert overridden.proof.envelope["comment"] == "signed off"
    await assert_replays([handle])
