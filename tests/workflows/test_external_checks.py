"""External checks end to end: a real Temporal server (dev, and time-skipping for timeouts)."""

from __future__ import annotations

import re

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.decisions import DecisionCode
from mutator.errors import MutatorInputError, MutatorRefused
from mutator.gates import GateKind, GateStatus
from mutator.models import MutationRequest, PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.check_app import check_app
from tests.helpers.replays import assert_replays
from tests.helpers.workers import assert_eventually, running_mutator


async def _settles(
    client: MutatorClient, request_id: str, status: RequestStatus
) -> MutationRequest:
    async def check() -> MutationRequest:
        found = await client.get(request_id)
        assert found.status == status
        return found

    return await assert_eventually(check)


def _codes(request: MutationRequest) -> list[str]:
    return [d.code for d in request.decisions]


async def test_checks_pass_and_the_request_executes(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-1", "checked.add", {"amount": 3}, actor="dave")
        assert (req.status, req.pending_reason) == (
            RequestStatus.PENDING,
            PendingReason.EXTERNAL_CHECK,
        )
        assert [(g.kind, g.name, g.status) for g in req.gates] == [
            (GateKind.EXTERNAL_CHECK, "ci", GateStatus.WAITING),
            (GateKind.EXTERNAL_CHECK, "security-scan", GateStatus.WAITING),
        ]
        assert [c.eligible for c in req.required_checks] == [["ci-bot", "scanner"]] * 2
        after = await client.check(
            req.request_id, "ci", passed=True, actor="ci-bot", details="build 812"
        )
        assert after.status == RequestStatus.PENDING
        assert after.gates[0].detail == "passed, reported by ci-bot: build 812"
        # The same result again: accepted, nothing recorded.
        again = await client.check(
            req.request_id, "ci", passed=True, actor="ci-bot", details="build 812"
        )
        assert _codes(again) == _codes(after)
        await client.check(req.request_id, "security-scan", passed=True, actor="scanner")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert (await client.state("chk-1")).data == {"value": 3}
        checks = [(d.code, d.actor, d.reason) for d in done.decisions if d.code.startswith("check")]
        assert checks == [
            (DecisionCode.CHECK_PASSED, "ci-bot", "ci passed: build 812"),
            (DecisionCode.CHECK_PASSED, "scanner", "security-scan passed"),
        ]
        assert _codes(done).count(DecisionCode.CHECK_PASSED) == 2
        await assert_replays(
            [dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))]
        )
        approved = next(d for d in done.decisions if d.code == DecisionCode.APPROVED)
        assert (approved.actor, approved.reason) == ("gates", "checks passed: ci, security-scan")


async def test_a_failed_check_rejects_the_request(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-2", "checked.add", {"amount": 3}, actor="dave")
        failed = await client.check(
            req.request_id, "security-scan", passed=False, actor="scanner", details="CVE-1"
        )
        assert failed.status == RequestStatus.REJECTED
        assert failed.rejection is not None
        assert failed.rejection.code == RejectionCode.CHECK_FAILED
        assert failed.rejection.reason == "check security-scan failed (reported by scanner): CVE-1"
        stored = await _settles(client, req.request_id, RequestStatus.REJECTED)
        assert _codes(stored)[-2:] == [DecisionCode.CHECK_FAILED, "rejected:check_failed"]
        assert await client.history("chk-2") == []


@pytest.mark.parametrize(
    ("name", "actor", "passed", "message"),
    [
        ("deploy", "ci-bot", True, "check 'deploy' is not required by request"),
        ("ci", "mallory", True, "mallory may not report check ci (reporters: ci-bot, scanner)"),
        ("ci", "dave", True, "dave is the requester"),
        ("ci", "ci-bot", False, "check ci was already reported passed; a report is final"),
    ],
)
async def test_a_report_that_cannot_count_is_refused_and_changes_nothing(
    dev_env: WorkflowEnvironment,
    sqlite_store: Store,
    name: str,
    actor: str,
    passed: bool,
    message: str,
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-3", "checked.add", {"amount": 1}, actor="dave")
        await client.check(req.request_id, "ci", passed=True, actor="ci-bot")
        before = await client.get(req.request_id)
        with pytest.raises(MutatorRefused, match=re.escape(message)):
            await client.check(req.request_id, name, passed=passed, actor=actor)
        assert await client.get(req.request_id) == before
        await client.cancel(req.request_id, actor="dave", reason="done testing")


async def test_a_bad_report_is_refused_before_anything_is_sent(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-4", "checked.add", {"amount": 1}, actor="dave")
        with pytest.raises(MutatorInputError, match="name: 'a b' is not a check name"):
            await client.check(req.request_id, "a b", passed=True, actor="ci-bot")
        with pytest.raises(MutatorInputError, match="actor: must not be empty"):
            await client.check(req.request_id, "ci", passed=True, actor="")
        assert (await client.get(req.request_id)).decisions == req.decisions
        await client.cancel(req.request_id, actor="dave", reason="done testing")


async def test_a_request_that_no_longer_waits_refuses_reports(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-5", "counter.add", {"amount": 1}, actor="dave")
        assert req.status == RequestStatus.EXECUTED  # no policy asks for anything
        with pytest.raises(MutatorRefused, match="is executed; it no longer waits"):
            await client.check(req.request_id, "ci", passed=True, actor="ci-bot")


async def test_checks_and_approvals_wait_at_the_same_time(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-6", "both.add", {"amount": 2}, actor="dave")
        assert req.pending_reason == PendingReason.EXTERNAL_CHECK
        assert [g.kind for g in req.gates] == [GateKind.EXTERNAL_CHECK, GateKind.APPROVAL]
        approved = await client.approve(req.request_id, actor="alice")
        assert (approved.status, approved.pending_reason) == (
            RequestStatus.PENDING,
            PendingReason.EXTERNAL_CHECK,
        )
        with pytest.raises(MutatorRefused, match="scanner may not report check ci "):
            await client.check(req.request_id, "ci", passed=True, actor="scanner")
        await client.check(req.request_id, "ci", passed=True, actor="ci-bot")
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert done.resulting_version == 1
        await assert_replays(
            [dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))]
        )


async def test_a_check_signal_counts_and_a_refused_one_is_recorded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-7", "checked.add", {"amount": 1}, actor="dave")
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await handle.signal("check_signal", {"actor": "mallory", "name": "ci", "result": "passed"})
        await handle.signal("check_signal", {"actor": "ci-bot", "name": "ci", "result": "maybe"})
        await handle.signal("check_signal", {"actor": "ci-bot", "name": "ci", "result": "passed"})
        message = await client.prepare_check(
            req.request_id, "security-scan", passed=True, actor="scanner", details="clean"
        )
        assert message.signal == "check_signal"
        await handle.signal(message.signal, message.input_json())
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        refused = [d for d in done.decisions if d.code == DecisionCode.REFUSED_ATTEMPT]
        assert [(d.actor, d.reason) for d in refused] == [
            ("mallory", "check: mallory may not report check ci (reporters: ci-bot, scanner)"),
            ("ci-bot", "check: result: Input should be 'passed' or 'failed'"),
        ]
        assert _codes(done).count(DecisionCode.CHECK_PASSED) == 2


async def test_a_check_not_reported_in_time_expires_the_request(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-8", "checked.add", {"amount": 1}, actor="dave")
        await client.check(req.request_id, "ci", passed=True, actor="ci-bot")
        await time_env.sleep(3000)
        assert (await client.get(req.request_id)).status == RequestStatus.PENDING
        await time_env.sleep(700)
        done = await _settles(client, req.request_id, RequestStatus.EXPIRED)
        assert done.decisions[-1].reason == "check security-scan not reported before its deadline"
        assert await client.history("chk-8") == []


async def test_a_check_reported_in_time_leaves_the_approvals_their_own_deadline(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store, check_app) as client:
        req = await client.submit("chk-9", "both.add", {"amount": 1}, actor="dave")
        await client.check(req.request_id, "ci", passed=True, actor="ci-bot")
        # Past the check's 10 minutes: it was reported, so only the approvals' 2 hours count.
        await time_env.sleep(3600)
        assert (await client.get(req.request_id)).status == RequestStatus.PENDING
        await client.approve(req.request_id, actor="bob")
        await _settles(client, req.request_id, RequestStatus.EXECUTED)
        # With the worker still up, the state's lane idles out and ends: no workflow is left
        # for the next test's time skipping to wait on.
        await time_env.sleep(3600)
        assert (await client.get(req.request_id)).status == RequestStatus.EXECUTED


async def test_a_batch_waits_for_its_items_checks_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, check_app) as client:
        items = [
            {"state_id": f"chk-b-{n}", "mutation": "checked.add", "payload": {"amount": n}}
            for n in (1, 2)
        ]
        batch = await client.submit_batch(items, mode="atomic", actor="dave")
        assert batch.pending_reason == PendingReason.EXTERNAL_CHECK
        assert [c.name for c in batch.required_checks] == ["ci", "security-scan"]
        await client.check(batch.request_id, "ci", passed=True, actor="ci-bot")
        await client.check(batch.request_id, "security-scan", passed=True, actor="scanner")
        done = await _settles(client, batch.request_id, RequestStatus.EXECUTED)
        assert [item.outcome for item in done.items] == ["applied", "applied"]
