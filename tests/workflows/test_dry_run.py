"""Dry-runs (``client.simulate``) on a real dev server and store: outcomes, nothing stored."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.decisions import EvaluationOutcome
from mutator.errors import MutatorInputError
from mutator.simulate_contracts import (
    SIMULATE_ACTIVITY,
    SIMULATE_ID_PREFIX,
    SIMULATE_WORKFLOW,
    SimulateInput,
    SimulateResult,
)
from mutator.store import Store
from tests.helpers import diff_app
from tests.helpers.histories import shape, steps
from tests.helpers.workers import running_mutator


async def _state_at_one(client: MutatorClient) -> str:
    state = f"acct-{uuid.uuid4().hex[:8]}"
    await client.submit(state, "limits.force", {"name": "cpu", "value": 4}, actor="dave")
    return state


def _unchanged(store: Store, state: str) -> None:
    """The state is still at version 1 and the store holds only the request that made it."""
    current = store.get_state(state)
    assert current is not None
    assert (current.version, current.data) == (1, {"cpu": 4})
    assert len(store.history(state)) == 1
    assert [r.mutation for r in store.list_requests(state_id=state)] == ["limits.force"]


async def test_an_allowed_change_shows_its_data_and_diff(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        state = await _state_at_one(client)
        result = await client.simulate(
            state, "limits.force", {"name": "mem", "value": 2}, actor="dave"
        )
    assert result.outcome == EvaluationOutcome.ALLOW
    assert result.state_version == 1
    assert result.data == {"cpu": 4, "mem": 2}
    assert result.diff is not None
    assert (result.diff.version, result.diff.ops) == (
        1,
        [{"op": "add", "path": "/mem", "value": 2}],
    )
    assert result.requirements == []
    _unchanged(sqlite_store, state)


async def test_a_change_that_would_wait_names_its_approvers(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        state = await _state_at_one(client)
        result = await client.simulate(
            state, "limits.set", {"name": "cpu", "value": 8}, actor="dave"
        )
    assert result.outcome == EvaluationOutcome.REQUIRE_APPROVALS
    assert [(r.policy, r.count, r.eligible) for r in result.requirements] == [
        ("one_of_two", 1, ["alice", "bob"])
    ]
    assert result.eligible_approvers == ["alice", "bob"]
    assert result.data == {"cpu": 8}
    assert result.diff is not None
    assert result.diff.ops == [{"op": "replace", "path": "/cpu", "value": 8}]
    assert result.diff.previous == {"0": 4}
    _unchanged(sqlite_store, state)


async def test_soft_and_advisory_denies_show_what_would_wait_and_what_would_warn(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        state = await _state_at_one(client)
        result = await client.simulate(
            state, "limits.set", {"name": "cpu", "value": 800}, actor="dave"
        )
    assert result.outcome == EvaluationOutcome.REQUIRE_APPROVALS
    assert [(o.policy, o.reason, o.eligible) for o in result.overrides] == [
        ("one_of_two", "limit 800 is above 500", ["alice", "bob"])
    ]
    assert [(w.policy, w.reason) for w in result.warnings] == [
        ("large_limits", "limit 800 is large")
    ]
    assert result.data == {"cpu": 800}
    _unchanged(sqlite_store, state)


async def test_a_denied_change_says_why(dev_env: WorkflowEnvironment, sqlite_store: Store) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        state = await _state_at_one(client)
        result = await client.simulate(
            state, "limits.set", {"name": "cpu", "value": 5000}, actor="dave"
        )
    assert result.outcome == EvaluationOutcome.DENY
    assert result.reason == "one_of_two: limit 5000 is above 1000"
    assert result.eligible_approvers == []
    _unchanged(sqlite_store, state)


async def test_a_payload_the_validator_refuses_is_invalid_as_at_submit(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        state = await _state_at_one(client)
        result = await client.simulate(
            state, "limits.set", {"name": "cpu", "value": -1}, actor="dave"
        )
    assert result.outcome == EvaluationOutcome.INVALID
    assert result.reason == "limits.set: payload.value must be a non-negative integer, got -1"
    assert (result.data, result.diff) == (None, None)
    _unchanged(sqlite_store, state)


@pytest.mark.parametrize(
    ("state_id", "mutation", "payload", "actor", "message"),
    [
        ("acct-x", "limits.nope", {}, "dave", "mutation: "),
        ("bad id!", "limits.force", {"name": "cpu", "value": 1}, "dave", "state_id: "),
        ("acct-x", "limits.force", {"name": "cpu", "value": 1}, "", "actor: "),
    ],
)
async def test_bad_input_is_refused_as_at_submit_and_nothing_is_stored(
    dev_env: WorkflowEnvironment,
    sqlite_store: Store,
    state_id: str,
    mutation: str,
    payload: dict[str, object],
    actor: str,
    message: str,
) -> None:
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        with pytest.raises(MutatorInputError) as refused:
            await client.simulate(state_id, mutation, payload, actor=actor)
        with pytest.raises(MutatorInputError) as submitted:
            await client.submit(state_id, mutation, payload, actor=actor)
    assert str(refused.value).startswith(message)
    assert str(refused.value) == str(submitted.value)
    assert sqlite_store.list_requests() == []
    assert sqlite_store.get_state(state_id) is None


async def test_a_dry_run_costs_one_short_workflow_with_one_activity(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """What docs/changes.md says a dry-run costs: 11 events, 2 workflow tasks, 1 activity."""
    async with running_mutator(dev_env, sqlite_store, diff_app.app) as client:
        workflow_id = f"{SIMULATE_ID_PREFIX}{uuid.uuid4()}"
        result = await dev_env.client.execute_workflow(
            SIMULATE_WORKFLOW,
            SimulateInput(
                state_id="acct-none", mutation="limits.force", payload={}, requester="dave"
            ),
            id=workflow_id,
            task_queue=client.task_queue,
            result_type=SimulateResult,
        )
        events = [
            e async for e in dev_env.client.get_workflow_handle(workflow_id).fetch_history_events()
        ]
    # The validator refused the payload: the answer still comes back as the workflow's result.
    assert result.outcome == EvaluationOutcome.INVALID
    assert shape(events) == (11, 2)
    assert [s.name for s in steps(events) if s.kind == "scheduled"] == [SIMULATE_ACTIVITY]
