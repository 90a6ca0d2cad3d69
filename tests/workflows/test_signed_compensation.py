"""Compensation in signed mode: the compensate is signed like a submit, its signature covering
which request it undoes and how; one without a valid signature is refused before the original
is touched, and stores nothing. The record, signatures included, verifies afterwards
(``running_mutator``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator import MutatorClient, MutatorRefused
from mutator.client_compensate import compensation_submission
from mutator.client_signing import sign_submission
from mutator.client_submission import start_request
from mutator.identity.envelope import payload_sha256
from mutator.identity.requests import signed_payload
from mutator.identity.signing import KeyFileSigner
from mutator.models import BatchItem, ItemOutcome, RequestStatus
from mutator.store import Store
from tests.helpers.signing import signed_app
from tests.helpers.workers import running_mutator


async def test_a_signed_compensate_executes_an_unsigned_or_forged_one_touches_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> None:
    async with running_mutator(dev_env, sqlite_store, signed_app(signers)) as unsigned:

        def as_user(user: str) -> MutatorClient:
            return MutatorClient(
                dev_env.client,
                sqlite_store,
                task_queue=unsigned.task_queue,
                search_attributes=unsigned.search_attributes,
                signer=signers[user],
            )

        state, other = f"sgc-{uuid.uuid4().hex[:8]}", f"sgc-{uuid.uuid4().hex[:8]}"
        dave, carol = as_user("dave"), as_user("carol")
        original = await dave.submit(state, "open.add", {"amount": 3}, actor="dave")
        elsewhere = await dave.submit(other, "open.add", {"amount": 4}, actor="dave")
        assert original.status == elsewhere.status == RequestStatus.EXECUTED
        kept = sqlite_store.get_request(original.request_id)

        # Unsigned, in signed mode: refused before the original is touched.
        with pytest.raises(MutatorRefused, match="the compensate's signature is refused"):
            await unsigned.compensate(
                original.request_id, actor="carol", reason="undo", compensation_id="sgc-unsigned"
            )
        # Signed to undo another request, sent to undo this one: refused too.
        signed_for_other = sign_submission(
            compensation_submission(
                elsewhere,
                elsewhere.request_id,
                linked=None,
                current_version=1,
                mode="restore",
                actor="carol",
                reason="undo",
                request_id="sgc-forged",
            ),
            signers["carol"],
        )
        forged = signed_for_other.model_copy(
            update={"compensates": original.request_id, "state_id": state}
        )
        with pytest.raises(MutatorRefused, match="the compensate's signature is refused"):
            await start_request(
                dev_env.client,
                forged,
                task_queue=unsigned.task_queue,
                search_attributes=unsigned.search_attributes,
                admission_timeout=30,
            )
        for refused in ("sgc-unsigned", "sgc-forged"):
            assert sqlite_store.get_request(refused) is None
        assert sqlite_store.get_request(original.request_id) == kept

        comp = await carol.compensate(original.request_id, actor="carol", reason="undo", wait=True)
        assert comp.status == RequestStatus.EXECUTED
        proof = comp.decisions[0].proof
        assert proof is not None
        assert proof.envelope["payload_sha256"] == payload_sha256(
            {"compensates": original.request_id, "compensation_mode": "restore"}
        )
        assert (await carol.state(state)).data == {}
        assert (await carol.get(original.request_id)).status == RequestStatus.COMPENSATED


async def test_a_signed_saga_batch_signs_its_compensate_on_failure(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> None:
    app = signed_app(signers)
    app.mutation("open.fail")(_fail)
    async with running_mutator(dev_env, sqlite_store, app) as unsigned:
        dave = MutatorClient(
            dev_env.client,
            sqlite_store,
            task_queue=unsigned.task_queue,
            search_attributes=unsigned.search_attributes,
            signer=signers["dave"],
        )
        state = f"sgc-{uuid.uuid4().hex[:8]}"
        items = [
            BatchItem(state_id=state, mutation="open.add", payload={"amount": 2}),
            BatchItem(state_id=state, mutation="open.fail", payload={}),
        ]
        batch = await dave.submit_batch(
            items, mode="sequential", compensate_on_failure=True, actor="dave", wait=True
        )
        assert batch.status == RequestStatus.FAILED
        assert [i.outcome for i in batch.items] == [ItemOutcome.COMPENSATED, ItemOutcome.FAILED]
        proof = batch.decisions[0].proof
        assert proof is not None
        assert proof.envelope["payload_sha256"] == payload_sha256(
            signed_payload("batch", {}, items, compensate_on_failure=True)
        )
        # The same signature without the flag would not verify: the hashes differ.
        assert (
            payload_sha256(signed_payload("batch", {}, items)) != proof.envelope["payload_sha256"]
        )


def _fail(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("refused downstream")
