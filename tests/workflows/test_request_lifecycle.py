"""A request's lifecycle end to end on a real Temporal dev server and a real store."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.errors import MutatorInputError, MutatorNotFound, MutatorRefused
from mutator.models import RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.workers import running_mutator


async def test_allowed_request_executes_at_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-1", "counter.add", {"amount": 5}, actor="alice")
        assert req.status == RequestStatus.EXECUTED
        assert req.resulting_version == 1
        state = await client.state("acct-1")
        assert (state.version, state.data) == (1, {"value": 5})
        history = await client.history("acct-1")
        assert [(h.version, h.request_id, h.actor) for h in history] == [
            (1, req.request_id, "alice")
        ]
        codes = [d.code for d in (await client.get(req.request_id)).decisions]
        # Its state was free: executed directly, no lane turn.
        assert codes == ["submitted", "approved", "executing", "executed"]


async def test_two_of_three_approvals_then_executes(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-2", "reviewed.add", {"amount": 7}, actor="dave")
        assert (req.status, req.pending_reason) == (RequestStatus.PENDING, "approval")
        assert req.base_version == 0
        after_one = await client.approve(req.request_id, actor="alice", comment="lgtm")
        assert after_one.status == RequestStatus.PENDING
        assert [a.actor for a in after_one.approvals] == ["alice"]
        await client.approve(req.request_id, actor="bob")
        done = await client.wait(req.request_id, timeout=20)
        assert done.status == RequestStatus.EXECUTED
        assert done.resulting_version == 1
        assert [a.actor for a in done.approvals] == ["alice", "bob"]
        assert (await client.state("acct-2")).data == {"value": 7}


async def test_policy_denial_is_recorded_and_changes_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-3", "counter.add", {"amount": 5000}, actor="alice")
        assert req.status == RequestStatus.REJECTED
        assert req.rejection is not None
        assert req.rejection.code == RejectionCode.POLICY_DENIED
        assert "amount above 1000" in req.rejection.reason
        with pytest.raises(MutatorNotFound, match="no state 'acct-3'"):
            await client.state("acct-3")
        assert await client.history("acct-3") == []


async def test_ineligible_self_and_double_votes_are_refused(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-4", "reviewed.add", {"amount": 1}, actor="alice")
        with pytest.raises(MutatorRefused, match="'mallory' is not an eligible approver"):
            await client.approve(req.request_id, actor="mallory")
        with pytest.raises(MutatorRefused, match="self-approval not allowed"):
            await client.approve(req.request_id, actor="alice")
        await client.approve(req.request_id, actor="bob")
        with pytest.raises(MutatorRefused, match="'bob' has already approved"):
            await client.approve(req.request_id, actor="bob")
        stored = await client.get(req.request_id)
        assert stored.status == RequestStatus.PENDING
        assert [a.actor for a in stored.approvals] == ["bob"]
        assert await client.history("acct-4") == []


async def test_retried_approve_with_same_update_id_counts_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-5", "reviewed.add", {"amount": 1}, actor="dave")
        first = await client.approve(req.request_id, actor="alice", update_id="vote-1")
        again = await client.approve(req.request_id, actor="alice", update_id="vote-1")
        assert [a.actor for a in first.approvals] == ["alice"]
        assert [a.actor for a in again.approvals] == ["alice"]
        stored = await client.get(req.request_id)
        assert [a.actor for a in stored.approvals] == ["alice"]


async def test_rejection_and_cancel_end_the_request(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        rejected = await client.submit("acct-6", "reviewed.add", {"amount": 1}, actor="dave")
        out = await client.reject(rejected.request_id, actor="carol", reason="not this week")
        assert out.status == RequestStatus.REJECTED
        assert out.rejection is not None
        assert out.rejection.code == RejectionCode.APPROVER_REJECTED
        with pytest.raises(MutatorRefused, match="rejected; it can no longer be changed"):
            await client.approve(rejected.request_id, actor="alice")

        canceled = await client.submit("acct-6", "reviewed.add", {"amount": 1}, actor="dave")
        with pytest.raises(MutatorRefused, match="neither the requester nor an eligible approver"):
            await client.cancel(canceled.request_id, actor="mallory")
        out = await client.cancel(canceled.request_id, actor="dave", reason="typo")
        assert out.status == RequestStatus.CANCELED
        with pytest.raises(MutatorRefused, match="canceled; it can no longer be changed"):
            await client.cancel(canceled.request_id, actor="dave")
        assert await client.history("acct-6") == []


async def test_signal_approvals_follow_the_same_rules(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    from mutator.contracts import ApproveInput, request_workflow_id
    from tests.helpers.workers import assert_eventually

    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-7", "reviewed.add", {"amount": 3}, actor="dave")
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await handle.signal("approve_signal", ApproveInput(actor="mallory"))
        await handle.signal("approve_signal", ApproveInput(actor="alice"))

        async def refused_and_counted() -> None:
            stored = await client.get(req.request_id)
            codes = [(d.code, d.actor) for d in stored.decisions]
            assert ("refused_attempt", "mallory") in codes
            assert [a.actor for a in stored.approvals] == ["alice"]

        await assert_eventually(refused_and_counted)
        await handle.signal("approve_signal", ApproveInput(actor="bob"))
        done = await client.wait(req.request_id, timeout=20)
        assert done.status == RequestStatus.EXECUTED


async def test_submit_is_idempotent_by_request_id(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        first = await client.submit(
            "acct-8", "counter.add", {"amount": 2}, actor="alice", request_id="same-1"
        )
        second = await client.submit(
            "acct-8", "counter.add", {"amount": 2}, actor="alice", request_id="same-1"
        )
        assert first.request_id == second.request_id == "same-1"
        assert second.status == RequestStatus.EXECUTED
        assert len(await client.history("acct-8")) == 1
        assert len((await client.list(state_id="acct-8")).requests) == 1


async def test_bad_input_is_refused_before_anything_is_stored(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        with pytest.raises(MutatorInputError, match="unknown mutation 'nope.add'"):
            await client.submit("acct-9", "nope.add", {}, actor="alice")
        with pytest.raises(MutatorInputError, match="state_id"):
            await client.submit("bad id with spaces", "counter.add", {"amount": 1}, actor="alice")
        with pytest.raises(MutatorNotFound, match="no request with id 'missing'"):
            await client.approve("missing", actor="alice")
        invalid = await client.submit("acct-9", "counter.add", {"amount": "x"}, actor="alice")
        assert invalid.status == RequestStatus.REJECTED
        assert invalid.rejection is not None
        assert invalid.rejection.code == RejectionCode.VALIDATION_FAILED
        assert "payload.amount must be an integer" in invalid.rejection.reason
        listed = (await client.list(state_id="acct-9")).requests
        assert [(r.request_id, r.status) for r in listed] == [(invalid.request_id, invalid.status)]
        assert await client.history("acct-9") == []


async def test_handler_exception_fails_with_error_kept(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-10", "broken.explode", {}, actor="alice")
        assert req.status == RequestStatus.FAILED
        assert req.error is not None
        assert "the handler blew up" in req.error
        assert await client.history("acct-10") == []


async def test_allowed_request_stale_under_reapprove_is_rejected(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit(
            "acct-11", "autore.add", {"amount": 1}, actor="alice", expected_version=3
        )
        assert req.status == RequestStatus.REJECTED
        assert req.rejection is not None
        assert req.rejection.code == RejectionCode.STALE
        assert "no approvals to renew" in req.rejection.reason
        assert await client.history("acct-11") == []


async def test_malformed_signals_are_recorded_as_refused(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    from mutator.contracts import request_workflow_id
    from tests.helpers.workers import assert_eventually

    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit("acct-12", "reviewed.add", {"amount": 1}, actor="dave")
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await handle.signal("approve_signal", {"comment": "no actor"})
        await handle.signal("reject_signal", {"actor": "alice"})
        await handle.signal("cancel_signal", {})

        async def recorded() -> None:
            stored = await client.get(req.request_id)
            refused = [d.reason for d in stored.decisions if d.code == "refused_attempt"]
            assert len(refused) == 3
            assert "approve: actor must not be empty" in refused
            assert "reject: reason must not be empty: say why the request is rejected" in refused
            assert "cancel: actor must not be empty" in refused
            assert stored.status == RequestStatus.PENDING

        await assert_eventually(recorded)


async def test_refused_signal_during_execution_stays_on_the_record(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    import asyncio

    from mutator.contracts import ApproveInput, request_workflow_id
    from tests.helpers import apps
    from tests.helpers.workers import assert_eventually

    execution_probe = apps.ExecutionProbe(hold_seconds=0, gated={"slow"})
    apps.execution_gate.clear()
    try:
        async with running_mutator(
            dev_env, sqlite_store, apps.build_app(execution_probe)
        ) as client:
            submitted = asyncio.create_task(
                client.submit(
                    "acct-13",
                    "probe.add",
                    {"state": "acct-13", "marker": "slow"},
                    actor="alice",
                    request_id="acct-13-slow",
                )
            )

            async def executing() -> None:
                assert ("slow", 0) in execution_probe.calls

            await assert_eventually(executing)
            handle = dev_env.client.get_workflow_handle(request_workflow_id("acct-13-slow"))
            await handle.signal("approve_signal", ApproveInput(actor="mallory"))
            apps.execution_gate.set()
            await submitted

            async def kept() -> None:
                stored = await client.get("acct-13-slow")
                assert stored.status == RequestStatus.EXECUTED
                assert ("refused_attempt", "mallory") in [
                    (d.code, d.actor) for d in stored.decisions
                ]

            await assert_eventually(kept)
    finally:
        apps.execution_gate.set()
