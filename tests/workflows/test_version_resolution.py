"""Version resolution under the three on_stale strategies, on a real dev server."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.workers import running_mutator


async def _pending_then_state_moves(
    client: MutatorClient, state_id: str, mutation: str, *, bump: int = 5
) -> MutationRequest:
    req = await client.submit(state_id, mutation, {"amount": 1}, actor="dave")
    assert req.status == RequestStatus.PENDING
    assert req.base_version == 0
    moved = await client.submit(state_id, "counter.add", {"amount": bump}, actor="alice")
    assert moved.status == RequestStatus.EXECUTED
    return req


async def _approve_twice(client: MutatorClient, request_id: str) -> MutationRequest:
    await client.approve(request_id, actor="alice")
    await client.approve(request_id, actor="bob")
    return await client.wait(request_id, timeout=20)


def _codes(req: MutationRequest) -> list[str]:
    return [d.code for d in req.decisions]


async def test_reject_strategy_rejects_a_stale_request(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reject", "reviewed.add")
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE
        assert "base version 0, state is at version 1" in done.rejection.reason
        assert "stale" in _codes(done)
        assert [h.version for h in await client.history("st-reject")] == [1]


async def test_reapprove_strategy_resets_approvals_against_the_new_base(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reapprove", "reapproved.add")
        await client.approve(req.request_id, actor="alice")
        await client.approve(req.request_id, actor="bob")

        async def back_to_pending() -> MutationRequest:
            found = await client.get(req.request_id)
            assert (found.status, found.pending_reason) == (
                RequestStatus.PENDING,
                PendingReason.APPROVAL,
            )
            return found

        from tests.helpers.workers import assert_eventually

        again = await assert_eventually(back_to_pending)
        assert again.approvals == []
        assert again.base_version == 1
        assert "approvals_reset" in _codes(again)
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.EXECUTED
        assert done.resulting_version == 2
        assert (await client.state("st-reapprove")).data == {"value": 6}


async def test_revalidate_strategy_executes_when_still_valid(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-revalidate", "revalidated.add")
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.EXECUTED
        assert "revalidated" in _codes(done)
        assert (await client.state("st-revalidate")).data == {"value": 6}


async def test_revalidate_strategy_rejects_when_policy_now_denies(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await _pending_then_state_moves(client, "st-reval-deny", "revalidated.add", bump=150)
        done = await _approve_twice(client, req.request_id)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.POLICY_DENIED
        assert "value is already at 100 or more" in done.rejection.reason
        assert [h.version for h in await client.history("st-reval-deny")] == [1]


async def test_expected_version_makes_an_allowed_request_stale(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        first = await client.submit(
            "st-expect", "counter.add", {"amount": 1}, actor="alice", expected_version=0
        )
        assert first.status == RequestStatus.EXECUTED
        second = await client.submit(
            "st-expect", "counter.add", {"amount": 1}, actor="alice", expected_version=0
        )
        assert second.status == RequestStatus.REJECTED
        assert second.rejection is not None
        assert second.rejection.code == RejectionCode.STALE
        assert [h.version for h in await client.history("st-expect")] == [1]


async def test_validators_run_on_the_state_an_allowed_request_executes_on(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        await client.submit("st-neg", "counter.add", {"amount": 3}, actor="alice")
        refused = await client.submit("st-neg", "counter.add", {"amount": -5}, actor="alice")
        assert refused.status == RequestStatus.REJECTED
        assert refused.rejection is not None
        assert refused.rejection.code == RejectionCode.VALIDATION_FAILED
        assert "cannot go below zero" in refused.rejection.reason
        assert (await client.state("st-neg")).data == {"value": 3}
