"""Break-glass end to end, on the dev server: bypassing approvals, a closed window, a freeze
and a full quota; the break-glass quorum; Deny still applies; refusals store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator import (
    Deny,
    MutationApp,
    MutatorInputError,
    MutatorRefused,
    PolicyContext,
    PolicyDecision,
    Quota,
    RequireApprovals,
    RequireChecks,
)
from mutator.contracts import request_workflow_id
from mutator.gates import GateKind, GateStatus
from mutator.models import RejectionCode, RequestStatus
from mutator.schedule import new_freeze
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers.workers import running_mutator

DIRECTORY = {"alice": ["sre"], "bob": ["sre"], "carol": ["oncall"], "dave": ["dev"]}


def _add(state: dict[str, int], payload: dict[str, int]) -> dict[str, int]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def _two_finance(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(2, approvers={"erin", "frank"})


def _deny(ctx: PolicyContext) -> PolicyDecision:
    return Deny("never on Fridays")


def emergency_app(approvals: int | None) -> MutationApp:
    """Every mutation is held back some way; ``approvals``: the break-glass quorum (None: none)."""
    app = MutationApp(directory=DIRECTORY)
    if approvals is not None:
        app.break_glass(roles={"sre", "oncall"}, approvals=approvals)
    # A window whose only occurrence was long ago: it never opens again.
    app.window(
        "never",
        rrule="DTSTART:20200101T090000\nRRULE:FREQ=DAILY;COUNT=1",
        duration=timedelta(hours=1),
        tz="UTC",
    )
    app.mutation("bg.reviewed", window="never")(_add)
    app.policy("bg.reviewed")(_two_finance)
    app.mutation("bg.limited", quota=Quota(limit=1, per=timedelta(hours=1), on_exceeded="reject"))(
        _add
    )
    app.mutation("bg.frozen")(_add)
    app.mutation("bg.denied")(_add)
    app.policy("bg.denied")(_deny)
    app.mutation("bg.checked")(_add)
    app.policy("bg.checked")(_ci)
    app.policy("bg.checked")(_two_finance)
    return app


def _ci(ctx: PolicyContext) -> PolicyDecision:
    return RequireChecks("ci", reporters={"dave"})


async def test_break_glass_needs_its_quorum_and_bypasses_approvals_and_window(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, emergency_app(1)) as client:
        req = await client.submit(
            "bg-1",
            "bg.reviewed",
            {"amount": 5},
            actor="alice",
            reason="INC-7: limits broke prod",
            break_glass=True,
        )
        assert req.break_glass
        assert (req.status, req.pending_reason) == (RequestStatus.PENDING, "approval")
        [requirement] = req.required_approvals
        assert (requirement.policy, requirement.count) == ("break_glass", 1)
        assert requirement.eligible == ["alice", "bob", "carol"]
        declared = next(d for d in req.decisions if d.code == "break_glass")
        assert (declared.category, declared.actor, declared.reason) == (
            "approval",
            "alice",
            "INC-7: limits broke prod",
        )
        # Prominent in the UI: its static summary and current details.
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        described = await handle.describe()
        assert await described.static_summary() == "BREAK-GLASS: bg.reviewed on bg-1 by alice"
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details.startswith(
            "**pending** (approval)\n\n**BREAK-GLASS** declared by alice: "
            "INC-7: limits broke prod\n\nwaiting for:\n- approval break_glass: 0 of 1 approvals"
        )
        # `list` reads the summary column, `show` the whole request (test_cli_quotas.py prints).
        [listed] = sqlite_store.list_page().requests
        assert listed.break_glass
        # The requester's own vote never counts; a holder of the role approves.
        with pytest.raises(MutatorRefused):
            await client.approve(req.request_id, actor="alice")
        with pytest.raises(MutatorRefused):
            await client.approve(req.request_id, actor="dave")
        await client.approve(req.request_id, actor="carol")
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert (await client.state("bg-1")).data == {"value": 5}
        assert not any(g.kind == GateKind.SCHEDULE for g in done.gates)
        assert [g.status for g in done.gates if g.kind == GateKind.APPROVAL] == [GateStatus.PASSED]
        history = await dev_env.client.get_workflow_handle(
            request_workflow_id(req.request_id)
        ).fetch_history()
    await Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    ).replay_workflow(history)


async def test_break_glass_without_a_quorum_bypasses_a_freeze_and_a_full_quota(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    now = datetime.now(UTC)
    sqlite_store.freezes.start(
        new_freeze(
            name="incident",
            until=now + timedelta(days=1),
            reason="incident",
            actor="ops",
            now=now,
            mutations="bg.frozen",
            states="*",
        )
    )
    async with running_mutator(dev_env, sqlite_store, emergency_app(0)) as client:
        frozen = await client.submit(
            "bg-2", "bg.frozen", {"amount": 1}, actor="bob", reason="hotfix", break_glass=True
        )
        assert frozen.status == RequestStatus.EXECUTED
        first = await client.submit("bg-3", "bg.limited", {"amount": 1}, actor="dave")
        assert first.status == RequestStatus.EXECUTED
        full = await client.submit("bg-3", "bg.limited", {"amount": 1}, actor="dave")
        assert full.rejection is not None
        assert full.rejection.code == RejectionCode.QUOTA_EXCEEDED
        bypass = await client.submit(
            "bg-3", "bg.limited", {"amount": 2}, actor="carol", reason="hotfix", break_glass=True
        )
        assert bypass.status == RequestStatus.EXECUTED
        assert (await client.state("bg-3")).data == {"value": 3}
        # Deny still applies.
        denied = await client.submit(
            "bg-4", "bg.denied", {"amount": 1}, actor="bob", reason="hotfix", break_glass=True
        )
        assert denied.rejection is not None
        assert denied.rejection.code == RejectionCode.POLICY_DENIED
        assert [d.code for d in denied.decisions][:2] == ["submitted", "break_glass"]


@pytest.mark.parametrize(
    ("approvals", "actor", "reason", "error", "message"),
    [
        (
            1,
            "dave",
            "hotfix",
            MutatorRefused,
            "break-glass: dave holds none of the break-glass roles (oncall, sre) in the app's "
            "directory",
        ),
        (
            None,
            "alice",
            "hotfix",
            MutatorRefused,
            "break-glass: this app declares no break-glass (app.break_glass(roles={...}, "
            "approvals=N)); submit without --break-glass",
        ),
        (
            1,
            "alice",
            " ",
            MutatorInputError,
            "reason: a break-glass submit needs a reason (--reason: why the emergency)",
        ),
    ],
)
async def test_a_refused_break_glass_stores_nothing(
    dev_env: WorkflowEnvironment,
    sqlite_store: Store,
    approvals: int | None,
    actor: str,
    reason: str,
    error: type[Exception],
    message: str,
) -> None:
    async with running_mutator(dev_env, sqlite_store, emergency_app(approvals)) as client:
        with pytest.raises(error) as refused:
            await client.submit(
                "bg-5",
                "bg.frozen",
                {"amount": 1},
                actor=actor,
                reason=reason,
                request_id=f"bg-refused-{approvals}-{actor}",
                break_glass=True,
            )
        assert str(refused.value) == message
        assert sqlite_store.list_requests() == []
        assert sqlite_store.get_state("bg-5") is None


@pytest.mark.parametrize(
    ("roles", "approvals", "message"),
    [
        (set(), 1, "break_glass roles must be a non-empty set of role names, got frozenset()"),
        ("sre", 1, "break_glass roles must be a non-empty set of role names, got 'sre'"),
        ({"sre", ""}, 1, "break_glass roles must be a non-empty set of role names"),
        ({"sre"}, -1, "break_glass approvals must be an integer >= 0, got -1"),
        ({"sre"}, 1.5, "break_glass approvals must be an integer >= 0, got 1.5"),
        ({"sre"}, True, "break_glass approvals must be an integer >= 0, got True"),
    ],
)
def test_a_bad_break_glass_declaration_is_refused_naming_the_field(
    roles: object, approvals: object, message: str
) -> None:
    app = MutationApp(directory=DIRECTORY)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        app.break_glass(roles=roles, approvals=approvals)  # type: ignore[arg-type]
    assert app.break_glass_rule is None
    app.break_glass(roles={"sre"}, approvals=0)
    with pytest.raises(ValueError, match="break_glass is declared twice"):
        app.break_glass(roles={"sre"}, approvals=1)


@pytest.mark.parametrize(
    "waits",
    [{"after": ["req-earlier"]}, {"not_before": datetime(2030, 1, 1, tzinfo=UTC)}],
    ids=["after", "not-before"],
)
async def test_an_emergency_that_would_wait_is_bad_input_and_starts_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store, waits: dict[str, object]
) -> None:
    async with running_mutator(dev_env, sqlite_store, emergency_app(0)) as client:
        with pytest.raises(MutatorInputError) as refused:
            await client.submit(
                "bg-6",
                "bg.frozen",
                {"amount": 1},
                actor="alice",
                reason="hotfix",
                request_id="bg-waits",
                break_glass=True,
                **waits,  # type: ignore[arg-type]
            )
        assert str(refused.value) == (
            "break_glass: an emergency does not wait (no --after, no --not-before)"
        )
        assert sqlite_store.list_requests() == []
        with pytest.raises(Exception, match="not found"):
            await dev_env.client.get_workflow_handle(request_workflow_id("bg-waits")).describe()


async def test_break_glass_still_waits_for_its_external_checks(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, emergency_app(0)) as client:
        req = await client.submit(
            "bg-ci", "bg.checked", {"amount": 2}, actor="alice", reason="INC-8", break_glass=True
        )
        # No approvals (the quorum is 0), but the ci check is not review: it still waits.
        assert (req.status, req.pending_reason) == (RequestStatus.PENDING, "external_check")
        assert req.required_approvals == []
        assert [c.name for c in req.required_checks] == ["ci"]
        done = await client.check(req.request_id, "ci", passed=True, actor="dave")
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert (await client.state("bg-ci")).data == {"value": 2}
