"""Policy levels, overrides, async policies and composition end to end, on a real dev server."""

from __future__ import annotations

import re
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from mutator import (
    Allow,
    Deny,
    MutationApp,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
    all_of,
    any_of,
)
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.decisions import DecisionCode
from mutator.errors import MutatorInputError, MutatorRefused
from mutator.gates import GateKind, GateStatus
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.store import Store
from tests.helpers.policy_app import DIRECTORY, policy_app
from tests.helpers.replays import assert_replays
from tests.helpers.workers import assert_eventually, running_mutator


def _state() -> str:
    return f"pol-{uuid.uuid4().hex[:12]}"


async def _settles(
    client: MutatorClient, request_id: str, status: RequestStatus
) -> MutationRequest:
    async def check() -> MutationRequest:
        found = await client.get(request_id)
        assert found.status == status
        return found

    return await assert_eventually(check)


def _decisions(request: MutationRequest, code: str) -> list[tuple[str, str]]:
    return [(d.actor, d.reason) for d in request.decisions if d.code == code]


async def test_an_advisory_deny_is_recorded_and_blocks_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        state = _state()
        req = await client.submit(state, "warned.add", {"amount": 500}, actor="dave")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert _decisions(done, DecisionCode.WARNED) == [
            ("policy", "large_change: amount 500 is large")
        ]
        assert (await client.state(state)).data == {"value": 500}


async def test_a_soft_deny_waits_for_an_eligible_override_with_a_reason(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        state = _state()
        req = await client.submit(state, "soft.add", {"amount": 2}, actor="dave")
        assert (req.status, req.pending_reason) == (RequestStatus.PENDING, PendingReason.OVERRIDE)
        assert [(g.kind, g.name, g.status) for g in req.gates] == [
            (GateKind.OVERRIDE, "business_hours", GateStatus.WAITING)
        ]
        before = await client.get(req.request_id)
        with pytest.raises(MutatorRefused, match="mallory may not override this request's soft"):
            await client.override(req.request_id, actor="mallory", reason="because")
        with pytest.raises(MutatorRefused, match="dave is the requester"):
            await client.override(req.request_id, actor="dave", reason="because")
        with pytest.raises(MutatorInputError, match="reason: must not be empty"):
            await client.override(req.request_id, actor="olga", reason="  ")
        with pytest.raises(MutatorInputError, match="reason: 4001 characters is over the limit"):
            await client.override(req.request_id, actor="olga", reason="r" * 4001)
        with pytest.raises(MutatorInputError, match="actor: contains a NUL character"):
            await client.override(req.request_id, actor="olga\x00", reason="ok")
        # Sent past the client, a bad update is refused by the workflow, naming the field.
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        with pytest.raises(WorkflowUpdateFailedError) as bad:
            await handle.execute_update("override", {"actor": "olga", "reason": "r" * 4001})
        assert "reason" in str(bad.value.cause)
        assert await client.get(req.request_id) == before
        assert await client.history(state) == []

        await client.override(req.request_id, actor="olga", reason="customer escalation 42")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert _decisions(done, DecisionCode.OVERRIDDEN) == [("olga", "customer escalation 42")]
        assert done.gates[0].status == GateStatus.PASSED
        approved = [d for d in done.decisions if d.code == DecisionCode.APPROVED]
        assert (approved[-1].actor, approved[-1].reason) == ("gates", "overridden: business_hours")
        assert (await client.state(state)).data == {"value": 2}
        await assert_replays(
            [dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))]
        )


async def test_an_override_signal_that_cannot_count_is_a_refused_attempt(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        req = await client.submit(_state(), "soft.add", {"amount": 1}, actor="dave")
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await handle.signal("override_signal", {"actor": "mallory", "reason": "let me"})

        async def refused() -> MutationRequest:
            found = await client.get(req.request_id)
            assert _decisions(found, DecisionCode.REFUSED_ATTEMPT)
            return found

        found = await assert_eventually(refused)
        [(actor, reason)] = _decisions(found, DecisionCode.REFUSED_ATTEMPT)
        assert actor == "mallory"
        assert reason.startswith("override: mallory may not override")
        assert found.status == RequestStatus.PENDING
        message = await client.prepare_vote(
            req.request_id, "override", actor="olga", comment="signalled"
        )
        await handle.signal(message.signal, message.input_json())
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert _decisions(done, DecisionCode.OVERRIDDEN) == [("olga", "signalled")]


async def test_a_soft_deny_and_approvals_both_must_be_met(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        req = await client.submit(_state(), "both.add", {"amount": 1}, actor="dave")
        assert req.pending_reason == PendingReason.OVERRIDE
        approved = await client.approve(req.request_id, actor="alice")
        assert (approved.status, approved.pending_reason) == (
            RequestStatus.PENDING,
            PendingReason.OVERRIDE,
        )
        await client.override(req.request_id, actor="olga", reason="approved change, late")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        final = [d for d in done.decisions if d.code == DecisionCode.APPROVED][-1]
        assert final.actor == "approvers"
        assert final.reason.endswith("; overridden: business_hours")


async def test_an_async_policy_past_its_timeout_fails_closed_naming_it(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        state = _state()
        req = await client.submit(state, "closed.add", {"amount": 1}, actor="dave")
        done = await _settles(client, req.request_id, RequestStatus.FAILED)
        assert done.error == (
            "PolicyFailed: policy 'ticket_system' timed out: no decision within its timeout "
            "of 0.2 s"
        )
        assert await client.history(state) == []


async def test_an_async_policy_past_its_timeout_fails_open_with_a_warning(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        state = _state()
        req = await client.submit(state, "open.add", {"amount": 4}, actor="dave")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert _decisions(done, DecisionCode.WARNED) == [
            (
                "policy",
                "ticket_system: policy 'ticket_system' timed out: no decision within its "
                "timeout of 0.2 s; failed open",
            )
        ]
        assert (await client.state(state)).data == {"value": 4}


async def test_an_async_policy_decides(dev_env: WorkflowEnvironment, sqlite_store: Store) -> None:
    async with running_mutator(dev_env, sqlite_store, policy_app) as client:
        denied = await client.submit(_state(), "opa.add", {"amount": 101}, actor="dave")
        assert denied.status == RequestStatus.REJECTED
        assert denied.rejection is not None
        assert denied.rejection.reason == "opa: opa: amount over 100"
        allowed = await client.submit(_state(), "opa.add", {"amount": 5}, actor="dave")
        await _settles(client, allowed.request_id, RequestStatus.EXECUTED)


def _prioritised(mode: str) -> MutationApp:
    app = MutationApp(directory=DIRECTORY, policy_mode=mode)  # type: ignore[arg-type]
    app.mutation("ranked.add")(lambda state, payload: {"value": payload["amount"]})

    @app.policy("ranked.*")
    def frozen(ctx: PolicyContext) -> PolicyDecision:
        return Deny("the quarter is frozen")

    @app.policy("ranked.*", priority=100)
    def small_changes_pass(ctx: PolicyContext) -> PolicyDecision:
        return Allow()

    return app


@pytest.mark.parametrize(
    ("mode", "status"),
    [("first_decisive", RequestStatus.EXECUTED), ("all_must_pass", RequestStatus.REJECTED)],
)
async def test_the_first_decisive_policy_by_priority_wins_only_in_first_decisive_mode(
    dev_env: WorkflowEnvironment, sqlite_store: Store, mode: str, status: RequestStatus
) -> None:
    async with running_mutator(dev_env, sqlite_store, _prioritised(mode)) as client:
        req = await client.submit(_state(), "ranked.add", {"amount": 3}, actor="dave")
        done = await _settles(client, req.request_id, status)
        if status == RequestStatus.REJECTED:
            assert done.rejection is not None
            assert re.fullmatch("frozen: the quarter is frozen", done.rejection.reason)


def _combined() -> MutationApp:
    """The owner may change their own state at once; anyone else needs an SRE, and no
    change may exceed 100, whoever asks."""
    app = MutationApp(directory=DIRECTORY)
    app.mutation("combined.add")(lambda state, payload: {"value": payload["amount"]})

    def owner(ctx: PolicyContext) -> PolicyDecision:
        return Allow() if ctx.state_id.startswith(ctx.requester) else Deny("not the owner")

    def one_sre(ctx: PolicyContext) -> PolicyDecision:
        return RequireApprovals(1, roles={"sre"})

    def at_most_100(ctx: PolicyContext) -> PolicyDecision:
        return Deny("over 100") if ctx.payload["amount"] > 100 else Allow()

    app.policy("combined.*")(all_of(any_of(owner, one_sre), at_most_100))
    return app


async def test_all_of_and_any_of_combine_policies_end_to_end(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, _combined()) as client:
        tag = uuid.uuid4().hex[:8]
        # any_of: the owner passes, so the most lenient decision (allow) applies.
        own = await client.submit(f"dave-{tag}", "combined.add", {"amount": 5}, actor="dave")
        await _settles(client, own.request_id, RequestStatus.EXECUTED)
        # Not the owner: the most lenient is one SRE's approval.
        other = await client.submit(f"erin-{tag}", "combined.add", {"amount": 5}, actor="dave")
        assert (other.status, other.pending_reason) == (
            RequestStatus.PENDING,
            PendingReason.APPROVAL,
        )
        await client.approve(other.request_id, actor="alice")
        await _settles(client, other.request_id, RequestStatus.EXECUTED)
        # all_of: the hard deny of one member rejects, even for the owner.
        big = await client.submit(f"dave-{tag}-2", "combined.add", {"amount": 500}, actor="dave")
        assert big.status == RequestStatus.REJECTED
        assert big.rejection is not None
        assert "over 100" in big.rejection.reason


async def test_a_soft_deny_not_overridden_in_time_expires(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store, policy_app) as client:
        state = _state()
        req = await client.submit(state, "soft.add", {"amount": 1}, actor="dave")
        [override] = req.required_overrides
        assert override.deadline is not None
        assert (override.deadline - req.created_at).total_seconds() == pytest.approx(
            7 * 86400, abs=5
        )
        await time_env.sleep(6 * 86400)
        assert (await client.get(req.request_id)).status == RequestStatus.PENDING
        await time_env.sleep(86400 + 60)
        done = await _settles(client, req.request_id, RequestStatus.EXPIRED)
        assert done.decisions[-1].reason == (
            "soft deny of business_hours not overridden before its deadline"
        )
        with pytest.raises(MutatorRefused, match="expired; it can no longer be changed"):
            await client.override(req.request_id, actor="olga", reason="too late")
        assert await client.history(state) == []
