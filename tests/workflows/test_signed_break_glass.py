"""identity="signed": the break-glass flag and its reason are part of the signed submit.

A signature over the request without the flag (or over another reason) never authorizes
break-glass: the submit is refused (``signature_refused``) and nothing executes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.identity.requests import signed_payload
from mutator.identity.signing import KeyFileSigner
from mutator.models import RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.signing import SignedWorld, signed_app
from tests.helpers.workers import running_mutator

PAYLOAD = {"amount": 4}
EMERGENCY = signed_payload("reviewed.add", PAYLOAD, break_glass=True)


@pytest.fixture
async def bg_world(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> AsyncIterator[SignedWorld]:
    """A signed worker whose app lets ``sre`` break glass without a quorum."""
    app = signed_app(signers)
    app.break_glass(roles={"sre"}, approvals=0)
    async with running_mutator(dev_env, sqlite_store, app) as client:
        yield SignedWorld(dev_env, sqlite_store, client.task_queue, signers)


async def test_a_signed_break_glass_executes_with_its_proof(bg_world: SignedWorld) -> None:
    req = await bg_world.submit(
        "sbg-ok",
        "st-sbg-ok",
        "reviewed.add",
        PAYLOAD,
        "alice",
        reason="INC-9",
        break_glass=True,
        signs_payload=EMERGENCY,
    )
    assert req.status == RequestStatus.EXECUTED
    live = await bg_world.live("sbg-ok")
    assert [d.code for d in live.decisions][:2] == ["submitted", "break_glass"]
    assert live.decisions[0].proof is not None
    assert live.decisions[0].proof.envelope["comment"] == "INC-9"


@pytest.mark.parametrize(
    ("signs", "reason_signed"),
    [(PAYLOAD, "INC-9"), (EMERGENCY, "another reason")],
    ids=["without-the-flag", "another-reason"],
)
async def test_a_signature_without_the_flag_or_its_reason_does_not_break_glass(
    bg_world: SignedWorld, signs: dict[str, object], reason_signed: str
) -> None:
    state_id = f"st-sbg-{reason_signed[:3]}-{len(signs)}"
    req = await bg_world.submit(
        f"sbg-{state_id}",
        state_id,
        "reviewed.add",
        PAYLOAD,
        "alice",
        reason="INC-9",
        break_glass=True,
        signs_payload=signs,
        comment=reason_signed,
    )
    assert req.status == RequestStatus.REJECTED
    assert req.rejection is not None
    assert req.rejection.code == RejectionCode.SIGNATURE_REFUSED
    assert bg_world.store.get_state(state_id) is None
