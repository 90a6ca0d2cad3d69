"""identity="signed": a check's report is signed like a vote (action ``check``).

The update's validator checks it (refused at once, nothing recorded); a signal goes through
the ``mutator.verify_vote`` activity (refused: a ``refused_attempt``). A report that counts
keeps its proof, and the record (signatures included) verifies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireChecks
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorRefused
from mutator.external_checks import check_comment
from mutator.identity.signing import KeyFileSigner
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from tests.helpers.replays import assert_replays
from tests.helpers.signing import SignedWorld, sign, signed_app, vote_envelope
from tests.helpers.workers import assert_eventually, running_mutator


def ci_by_carol(ctx: PolicyContext) -> PolicyDecision:
    return RequireChecks("ci", "lint", reporters={"carol"})


def _app(signers: dict[str, KeyFileSigner]) -> MutationApp:
    app = signed_app(signers)
    app.mutation("checked.add")(lambda state, payload: {**state, "value": payload["amount"]})
    app.policy("checked.add")(ci_by_carol)
    return app


@pytest.fixture
async def checks_world(
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


async def test_signed_reports_count_and_bad_ones_are_refused(checks_world: SignedWorld) -> None:
    world = checks_world
    req = await world.submit("schk-1", "st-schk-1", "checked.add", {"amount": 5}, "dave")
    assert req.status == RequestStatus.PENDING
    before = await world.live("schk-1")
    with pytest.raises(MutatorRefused, match=r"signature refused \(signature_required\)"):
        await _client(world, None).check("schk-1", "ci", passed=True, actor="carol")
    with pytest.raises(MutatorRefused, match=r"signature refused \(key_of_another_user\)"):
        await _client(world, "bob").check("schk-1", "ci", passed=True, actor="carol")
    assert await world.live("schk-1") == before

    # A signal: unsigned, or signed for another result, is a refused attempt.
    handle = world.temporal.get_workflow_handle(request_workflow_id("schk-1"))
    await handle.signal("check_signal", {"actor": "carol", "name": "ci", "result": "passed"})
    envelope, signature = sign(
        world.signers["carol"],
        vote_envelope(before, "check", "carol", check_comment("ci", "failed", "")),
    )
    await handle.signal(
        "check_signal",
        {
            "actor": "carol",
            "name": "ci",
            "result": "passed",
            "envelope": envelope,
            "signature": signature,
        },
    )

    async def two_refused() -> MutationRequest:
        live = await world.live("schk-1")
        assert [d.code for d in live.decisions].count("refused_attempt") == 2
        return live

    live = await assert_eventually(two_refused)
    refused = [d.reason for d in live.decisions if d.code == "refused_attempt"]
    assert refused[0].startswith("check: signature refused (signature_required)")
    assert refused[1].startswith("check: signature refused (envelope_mismatch)")
    assert live.gates[0].status == "waiting"

    carol = _client(world, "carol")
    await carol.check("schk-1", "ci", passed=True, actor="carol", details="green")
    message = await carol.prepare_check("schk-1", "lint", passed=True, actor="carol")
    await handle.signal(message.signal, message.input_json())
    done = await world.settled("schk-1")
    assert done.status == RequestStatus.EXECUTED
    reports = [d for d in done.decisions if d.code == "check_passed"]
    assert [(d.actor, d.reason) for d in reports] == [
        ("carol", "ci passed: green"),
        ("carol", "lint passed"),
    ]
    assert all(d.proof is not None for d in reports)
    assert reports[0].proof is not None
    assert reports[0].proof.envelope["action"] == "check"
    await assert_replays([handle])
