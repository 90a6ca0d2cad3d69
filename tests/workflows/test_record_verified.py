"""The tamper-evident record after real requests on a real Temporal server and worker:
approvals, a rejection, a denial, a batch and a stale request leave chains that verify, on
SQLite and PostgreSQL; a row edited afterwards is named.

``running_mutator`` also verifies the store after every end-to-end test that uses it.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from mutator.models import RejectionCode, RequestStatus
from mutator.record import ChainKind, ProblemKind
from mutator.store import Store
from tests.helpers.workers import running_mutator


async def test_real_requests_leave_a_record_that_verifies(
    dev_env: WorkflowEnvironment, store: Store
) -> None:
    tag = uuid.uuid4().hex[:6]  # state lanes outlive a test on the session's server
    async with running_mutator(dev_env, store) as client:
        direct = await client.submit(f"rec-a-{tag}", "counter.add", {"amount": 5}, actor="alice")
        assert direct.status == RequestStatus.EXECUTED
        approved = await client.submit(f"rec-b-{tag}", "reviewed.add", {"amount": 7}, actor="dave")
        await client.approve(approved.request_id, actor="alice", comment="lgtm")
        await client.approve(approved.request_id, actor="bob")
        assert (await client.wait(approved.request_id, timeout=20)).status == (
            RequestStatus.EXECUTED
        )
        rejected = await client.submit(f"rec-b-{tag}", "reviewed.add", {"amount": 1}, actor="dave")
        await client.reject(rejected.request_id, actor="carol", reason="not now")
        denied = await client.submit(f"rec-c-{tag}", "counter.add", {"amount": 5000}, actor="alice")
        assert denied.status == RequestStatus.REJECTED
        batch = await client.submit_batch(
            [
                {"state_id": f"rec-a-{tag}", "mutation": "counter.add", "payload": {"amount": 1}},
                {"state_id": f"rec-d-{tag}", "mutation": "counter.add", "payload": {"amount": 2}},
                {"state_id": f"rec-a-{tag}", "mutation": "counter.add", "payload": {"amount": 3}},
            ],
            mode="atomic",
            actor="alice",
        )
        assert batch.status == RequestStatus.EXECUTED
        stale = await client.submit(f"rec-e-{tag}", "reviewed.add", {"amount": 1}, actor="dave")
        moved = await client.submit(f"rec-e-{tag}", "counter.add", {"amount": 5}, actor="alice")
        assert moved.status == RequestStatus.EXECUTED
        await client.approve(stale.request_id, actor="alice")
        await client.approve(stale.request_id, actor="bob")
        done = await client.wait(stale.request_id, timeout=20)
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE

        report = await client.verify_audit()
        assert report.ok, report.problems
        assert report.requests == 7
        decisions = 0
        for summary in (await client.list(limit=100)).requests:
            decisions += len((await client.get(summary.request_id)).decisions)
        assert report.decisions == decisions
        assert (report.states, report.history) == (4, 6)  # rec-a: 3 versions (1 + batch's 2)

    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE mutator_decisions SET actor = 'mallory' WHERE request_id = :r AND seq = 3"
            ),
            {"r": approved.request_id},
        )
    tampered = store.verify_record()
    assert [(p.chain, p.chain_id, p.position, p.kind) for p in tampered.problems] == [
        (ChainKind.DECISIONS, approved.request_id, 3, ProblemKind.EDITED)
    ]


async def test_an_end_to_end_test_fails_when_its_record_does_not_verify(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = uuid.uuid4().hex[:6]

    async def tamper_inside() -> None:
        async with running_mutator(dev_env, sqlite_store) as client:
            await client.submit(f"rec-x-{tag}", "counter.add", {"amount": 5}, actor="alice")
            with sqlite_store.engine.begin() as conn:
                conn.execute(text("UPDATE mutator_state_history SET actor = 'mallory'"))

    with pytest.raises(AssertionError, match="the record does not verify"):
        await tamper_inside()
