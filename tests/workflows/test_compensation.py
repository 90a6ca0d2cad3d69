"""Compensation end to end, on the dev server: restore and inverse, governed like any request,
the original ending ``compensated`` with its compensation's change, and every refusal storing
nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator import (
    Allow,
    MutationApp,
    MutatorInputError,
    MutatorNotFound,
    MutatorRefused,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
)
from mutator.contracts import request_workflow_id
from mutator.models import MutationRequest, RejectionCode, RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers.workers import running_mutator

# What the policies saw: (mutation, compensates, compensation_mode, payload) per evaluation.
policy_views: list[tuple[str, str | None, str | None, dict[str, Any]]] = []


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def _amount_is_integer(state: dict[str, Any], payload: dict[str, Any]) -> None:
    if not isinstance(payload.get("amount"), int):
        raise ValueError("payload.amount must be an integer")


def _set(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, payload["name"]: payload["value"]}


def _record(ctx: PolicyContext) -> PolicyDecision:
    policy_views.append((ctx.mutation, ctx.compensates, ctx.compensation_mode, dict(ctx.payload)))
    return Allow()


def _review_compensations(ctx: PolicyContext) -> PolicyDecision:
    # Changes run at once; undoing one needs a second pair of eyes.
    if ctx.compensates is not None:
        return RequireApprovals(1, approvers={"bob"})
    return Allow()


def compensation_app() -> MutationApp:
    """``comp.add`` has an inverse; ``comp.set`` has none; ``comp.reviewed`` compensations wait."""
    app = MutationApp()
    add = app.mutation("comp.add")(_add)
    add.validator(_amount_is_integer)

    @add.inverse
    def _negate(
        before: dict[str, Any], after: dict[str, Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        return {"amount": before.get("value", 0) - after["value"]}

    # revalidate: a restore must still refuse a later version (it never re-bases).
    app.mutation("comp.set", on_stale="revalidate")(_set)
    app.mutation("comp.reviewed")(_set)
    app.policy("comp.*")(_record)
    app.policy("comp.reviewed")(_review_compensations)
    return app


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _replays(env: WorkflowEnvironment, request_id: str) -> None:
    history = await env.client.get_workflow_handle(request_workflow_id(request_id)).fetch_history()
    await Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    ).replay_workflow(history)


def _codes(req: MutationRequest) -> list[str]:
    return [d.code for d in req.decisions]


async def test_restore_returns_the_data_and_marks_the_original_compensated(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-restore")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        first = await client.submit(state, "comp.set", {"name": "a", "value": 1}, actor="alice")
        original = await client.submit(state, "comp.set", {"name": "b", "value": 2}, actor="alice")
        assert original.status == RequestStatus.EXECUTED
        assert first.resulting_version == 1
        assert original.resulting_version == 2
        policy_views.clear()
        comp = await client.compensate(
            original.request_id, actor="carol", reason="INC-9: b broke billing", wait=True
        )
        assert comp.status == RequestStatus.EXECUTED
        assert (comp.compensates, comp.compensation_mode) == (original.request_id, "restore")
        assert (comp.state_id, comp.mutation) == (state, "comp.set")
        # It planned the data before the original, and expected the version the original made.
        assert comp.payload == {"a": 1}
        assert (comp.expected_version, comp.resulting_version) == (2, 3)
        assert _codes(comp)[:2] == ["submitted", "compensates"]
        # The Temporal UI's current details name the original.
        handle = dev_env.client.get_workflow_handle(request_workflow_id(comp.request_id))
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert f"compensates {original.request_id} (restore)" in metadata.current_details
        # The policies saw a compensation (validators did not run on the restored data).
        assert policy_views == [("comp.set", original.request_id, "restore", {"a": 1})]
        assert (await client.state(state)).data == {"a": 1}
        ended = await client.get(original.request_id)
        assert (ended.status, ended.compensated_by) == (RequestStatus.COMPENSATED, comp.request_id)
        # Its record: the link when the compensation was submitted, the status change with
        # the compensation's change; its own resulting version is kept.
        assert _codes(ended)[-2:] == ["compensation_requested", "compensated"]
        requested, compensated = ended.decisions[-2:]
        assert (requested.actor, compensated.actor) == ("carol", "carol")
        assert requested.reason == f"restore by {comp.request_id}: INC-9: b broke billing"
        assert compensated.reason == (
            f"compensated by {comp.request_id} (restore); state {state} is now at version 3"
        )
        assert ended.resulting_version == 2
        # A second compensation of the same original is refused, and stores nothing.
        again = uid("comp-again")
        with pytest.raises(MutatorRefused, match="is compensated already"):
            await client.compensate(
                original.request_id, actor="carol", reason="again", compensation_id=again
            )
        assert sqlite_store.get_request(again) is None
    await _replays(dev_env, comp.request_id)


async def test_inverse_corrects_forward_over_later_versions(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-inverse")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        await client.submit(state, "comp.add", {"amount": 10}, actor="alice")
        original = await client.submit(state, "comp.add", {"amount": 5}, actor="alice")
        await client.submit(state, "comp.add", {"amount": 100}, actor="dave")
        # restore refuses: later versions exist, named.
        with pytest.raises(MutatorRefused, match="has later version 3 "):
            await client.compensate(original.request_id, actor="carol", reason="wrong amount")
        comp = await client.compensate(
            original.request_id, actor="carol", reason="wrong amount", mode="inverse", wait=True
        )
        assert comp.status == RequestStatus.EXECUTED
        assert (comp.payload, comp.expected_version) == ({"amount": -5}, None)
        assert (await client.state(state)).data == {"value": 110}
        ended = await client.get(original.request_id)
        assert (ended.status, ended.compensated_by) == (RequestStatus.COMPENSATED, comp.request_id)
    await _replays(dev_env, comp.request_id)


async def test_a_compensation_is_governed_and_waits_for_its_approval(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-reviewed")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        original = await client.submit(
            state, "comp.reviewed", {"name": "a", "value": 1}, actor="alice"
        )
        assert original.status == RequestStatus.EXECUTED
        comp = await client.compensate(original.request_id, actor="carol", reason="undo")
        assert (comp.status, comp.pending_reason) == (RequestStatus.PENDING, "approval")
        # Approvers see what the restore does: from version 1 back to the data before it.
        assert comp.planned_diff is not None
        assert (comp.planned_diff.version, comp.planned_diff.ops) == (
            1,
            [{"op": "remove", "path": "/a"}],
        )
        linked = await client.get(original.request_id)
        assert (linked.status, linked.compensated_by) == (RequestStatus.EXECUTED, comp.request_id)
        # One compensation at a time: a second is refused while the first is under way.
        second = uid("comp-second")
        with pytest.raises(MutatorRefused, match=f"compensation under way: {comp.request_id}"):
            await client.compensate(
                original.request_id, actor="carol", reason="undo", compensation_id=second
            )
        assert sqlite_store.get_request(second) is None
        await client.approve(comp.request_id, actor="bob")
        done = await client.wait(comp.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert done.applied_diff is not None
        assert done.applied_diff.ops == [{"op": "remove", "path": "/a"}]
        # Restoring the data before a state's first version empties it.
        assert (await client.state(state)).data == {}
        assert (await client.get(original.request_id)).status == RequestStatus.COMPENSATED


async def test_a_change_meanwhile_refuses_a_restore_by_its_version_check(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-stale")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        original = await client.submit(
            state, "comp.reviewed", {"name": "a", "value": 1}, actor="alice"
        )
        comp = await client.compensate(original.request_id, actor="carol", reason="undo")
        assert comp.status == RequestStatus.PENDING
        moved = await client.submit(state, "comp.reviewed", {"name": "b", "value": 2}, actor="dave")
        assert moved.resulting_version == 2
        await client.approve(comp.request_id, actor="bob")
        done = await client.wait(comp.request_id, timeout=30)
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE
        assert (await client.state(state)).data == {"a": 1, "b": 2}
        kept = await client.get(original.request_id)
        assert kept.status == RequestStatus.EXECUTED
        # The rejected compensation no longer holds the original: a new one may be asked,
        # and restore names the later version.
        with pytest.raises(MutatorRefused, match="has later version 2 "):
            await client.compensate(original.request_id, actor="carol", reason="undo")


async def test_refusals_name_the_reason_and_store_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-refused")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        executed = await client.submit(state, "comp.set", {"name": "a", "value": 1}, actor="al")
        later = await client.submit(state, "comp.reviewed", {"name": "b", "value": 2}, actor="al")
        assert later.status == RequestStatus.EXECUTED  # not a compensation: allowed
        invalid = await client.submit(state, "comp.add", {"amount": "x"}, actor="al")
        assert invalid.status == RequestStatus.REJECTED
        before = sqlite_store.get_request(executed.request_id)
        cases: list[tuple[str, dict[str, Any], type[Exception], str]] = [
            ("nope-" + uuid.uuid4().hex, {}, MutatorNotFound, "request_id: no request with id"),
            (
                invalid.request_id,
                {},
                MutatorRefused,
                f"request {invalid.request_id} is rejected: only an executed request",
            ),
            (
                executed.request_id,
                {},
                MutatorRefused,
                f"request {executed.request_id} cannot be restored: state {state} has later "
                "version 2 ",
            ),
            (
                executed.request_id,
                {"mode": "inverse"},
                MutatorRefused,
                "mutation 'comp.set' declares no inverse \\(@comp.set.inverse\\)",
            ),
            (executed.request_id, {"mode": "undo"}, MutatorInputError, "mode: 'undo' is not"),
            (executed.request_id, {"reason": " "}, MutatorInputError, "reason: must not be empty"),
            (executed.request_id, {"actor": ""}, MutatorInputError, "actor"),
        ]
        for original_id, extra, error, message in cases:
            comp_id = uid("comp-no")
            args: dict[str, Any] = {"actor": "carol", "reason": "undo", **extra}
            with pytest.raises(error, match=message):
                await client.compensate(original_id, compensation_id=comp_id, **args)
            assert sqlite_store.get_request(comp_id) is None, (original_id, extra)
        assert sqlite_store.get_request(executed.request_id) == before


async def test_two_compensations_at_once_one_links_the_other_is_refused(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    state = uid("comp-race")
    async with running_mutator(dev_env, sqlite_store, compensation_app()) as client:
        original = await client.submit(
            state, "comp.reviewed", {"name": "a", "value": 1}, actor="alice"
        )
        ids = [uid("comp-race-a"), uid("comp-race-b")]
        results = await asyncio.gather(
            *(
                client.compensate(
                    original.request_id, actor="carol", reason="undo", compensation_id=comp_id
                )
                for comp_id in ids
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        admitted = [r for r in results if isinstance(r, MutationRequest)]
        assert len(refused) == 1, results
        assert isinstance(refused[0], MutatorRefused)
        assert "compensation under way" in str(refused[0])
        [winner] = admitted
        assert winner.status == RequestStatus.PENDING
        linked = sqlite_store.get_request(original.request_id)
        assert linked is not None
        assert linked.compensated_by == winner.request_id
        assert [d.code for d in linked.decisions].count("compensation_requested") == 1
        loser = next(i for i in ids if i != winner.request_id)
        assert sqlite_store.get_request(loser) is None
        await client.cancel(winner.request_id, actor="carol")
