"""Approval deadlines, on the time-skipping test server."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.errors import MutatorRefused
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from tests.helpers.workers import assert_eventually, running_mutator


async def _settles(
    client: MutatorClient, request_id: str, status: RequestStatus
) -> MutationRequest:
    async def check() -> MutationRequest:
        found = await client.get(request_id)
        assert found.status == status
        return found

    return await assert_eventually(check)


async def test_no_quorum_before_deadline_expires(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store) as client:
        req = await client.submit("acct-d1", "quick.add", {"amount": 1}, actor="alice")
        assert req.status == RequestStatus.PENDING
        assert req.deadline is not None
        assert (req.deadline - req.created_at).total_seconds() == pytest.approx(3600, abs=5)
        await time_env.sleep(3000)
        assert (await client.get(req.request_id)).status == RequestStatus.PENDING
        await time_env.sleep(700)
        done = await _settles(client, req.request_id, RequestStatus.EXPIRED)
        assert done.decisions[-1].code == "expired"
        with pytest.raises(MutatorRefused, match="expired; it can no longer be changed"):
            await client.approve(req.request_id, actor="bob")
        assert await client.history("acct-d1") == []


async def test_quorum_before_deadline_executes(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store) as client:
        req = await client.submit("acct-d2", "quick.add", {"amount": 4}, actor="alice")
        await time_env.sleep(1800)
        await client.approve(req.request_id, actor="bob")
        await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert (await client.state("acct-d2")).data == {"value": 4}
        await time_env.sleep(3600)
        assert (await client.get(req.request_id)).status == RequestStatus.EXECUTED
