"""Which events each path sends: dependencies, refusals, deadlines, a policy that raises.

A real local receiver verifies every signature (``tests/helpers/webhook_receiver.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireApprovals
from mutator.models import RequestStatus
from mutator.notifications import WebhookConfig, webhook_config
from mutator.store import Store
from tests.helpers.webhook_receiver import Receiver, new_secret, running_receiver
from tests.helpers.workers import assert_eventually, running_mutator


def _config(receiver: Receiver) -> WebhookConfig:
    config = webhook_config(
        receiver.url, receiver.secret, initial_retry_seconds=0.05, max_retry_seconds=0.2
    )
    assert config is not None
    return config


async def _seen(receiver: Receiver, request_id: str, *kinds: str) -> list[dict[str, Any]]:
    """Wait until the receiver got exactly ``kinds`` about ``request_id``, in that order."""

    async def check() -> list[dict[str, Any]]:
        found = [e for e in receiver.verified() if e["data"]["request_id"] == request_id]
        assert [e["type"] for e in found] == list(kinds)
        return found

    return await assert_eventually(check)


async def test_a_dependency_wait_then_its_failure_are_notified(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    with running_receiver(new_secret()) as receiver:
        async with running_mutator(dev_env, sqlite_store, webhook=_config(receiver)) as client:
            first = await client.submit("whe-1", "reviewed.add", {"amount": 1}, actor="dave")
            second = await client.submit(
                "whe-1", "counter.add", {"amount": 1}, actor="erin", after=[first.request_id]
            )
            [waiting] = await _seen(receiver, second.request_id, "request.pending")
            assert waiting["data"]["pending_reason"] == "dependency"
            assert [g["kind"] for g in waiting["data"]["gates"]] == ["dependency"]
            assert waiting["data"]["eligible_approvers"] == []
            await client.cancel(first.request_id, actor="dave")
            await _seen(receiver, first.request_id, "request.pending", "request.cancelled")
            events = await _seen(receiver, second.request_id, "request.pending", "request.rejected")
    rejection = events[1]["data"]["rejection"]
    assert rejection["code"] == "dependency_failed"
    assert first.request_id in rejection["reason"]


async def test_a_request_the_policies_deny_is_notified_rejected(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    with running_receiver(new_secret()) as receiver:
        async with running_mutator(dev_env, sqlite_store, webhook=_config(receiver)) as client:
            denied = await client.submit("whe-2", "denied.add", {"amount": 1}, actor="dave")
            assert denied.status == RequestStatus.REJECTED
            [event] = await _seen(receiver, denied.request_id, "request.rejected")
    assert event["data"]["rejection"]["code"] == "policy_denied"


def _raising_policy(ctx: PolicyContext) -> PolicyDecision:
    raise RuntimeError("the policy has a bug")


def _app_with_a_raising_policy() -> MutationApp:
    app = MutationApp()
    app.mutation("bug.add")(lambda state, payload: state)
    app.policy("bug.*")(_raising_policy)
    return app


async def test_a_request_never_evaluated_asks_its_worker_and_is_notified_failed(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    with running_receiver(new_secret()) as receiver:
        async with running_mutator(
            dev_env, sqlite_store, _app_with_a_raising_policy(), webhook=_config(receiver)
        ) as client:
            req = await client.submit("whe-3", "bug.add", {}, actor="dave")
            done = await client.wait(req.request_id, timeout=30)
            assert done.status == RequestStatus.FAILED
            [event] = await _seen(receiver, req.request_id, "request.failed")
    assert "the policy has a bug" in event["data"]["error"]


def _short_deadline(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"bob"}, timeout=timedelta(seconds=1))


async def test_an_approval_deadline_that_passes_is_notified_expired(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    # On the dev server: the Java time-skipping server stops skipping once a request that
    # started a child workflow has ended (its sleep and result calls time out).
    app = MutationApp()
    app.mutation("soon.add")(lambda state, payload: state)
    app.policy("soon.*")(_short_deadline)
    with running_receiver(new_secret()) as receiver:
        async with running_mutator(dev_env, sqlite_store, app, webhook=_config(receiver)) as client:
            req = await client.submit("whe-4", "soon.add", {}, actor="alice")
            done = await client.wait(req.request_id, timeout=30)
            assert done.status == RequestStatus.EXPIRED
            events = await _seen(receiver, req.request_id, "request.pending", "request.expired")
    assert events[0]["data"]["eligible_approvers"] == ["bob"]
    assert events[0]["data"]["deadline"] == req.deadline.isoformat()  # type: ignore[union-attr]
    assert events[1]["data"]["status"] == "expired"


async def test_a_request_that_waits_for_another_reason_is_notified_pending_again(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    with running_receiver(new_secret()) as receiver:
        async with running_mutator(dev_env, sqlite_store, webhook=_config(receiver)) as client:
            first = await client.submit("whe-5", "reviewed.add", {"amount": 1}, actor="dave")
            second = await client.submit(
                "whe-5", "reviewed.add", {"amount": 2}, actor="erin", after=[first.request_id]
            )
            await _seen(receiver, second.request_id, "request.pending")
            await client.approve(first.request_id, actor="alice")
            await client.approve(first.request_id, actor="bob")
            # Its dependency is executed: it now waits for approvals, and says so.
            events = await _seen(receiver, second.request_id, "request.pending", "request.pending")
            # A vote short of the quorum sends nothing: the next event is its execution.
            await client.approve(second.request_id, actor="alice")
            await client.approve(second.request_id, actor="bob")
            await _seen(
                receiver,
                second.request_id,
                "request.pending",
                "request.pending",
                "request.executed",
            )
    assert [e["data"]["pending_reason"] for e in events] == ["dependency", "approval"]
    assert events[1]["data"]["approve_command"] == (
        f"mutator approve {second.request_id} --actor <you>"
    )
    assert events[0]["data"]["gates"][0]["status"] == "waiting"
