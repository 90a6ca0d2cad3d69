"""A sequential batch with ``compensate_on_failure``, on the dev server: when its third of
four items fails, the two applied before it are undone in reverse order (a saga), each
recorded on its item and in the batch's record, and the batch ends ``failed`` listing them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator import MutationApp, MutatorInputError, MutatorNotFound
from mutator.models import BatchItem, ItemOutcome, RequestStatus
from mutator.store import Store
from tests.helpers.workers import running_mutator
from tests.workflows.test_compensation import _replays


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def _set(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, payload["name"]: payload["value"]}


def _explode(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the payment provider is down")


def saga_app() -> MutationApp:
    app = MutationApp()
    add = app.mutation("saga.add")(_add)

    @add.inverse
    def _subtract(
        before: dict[str, Any], after: dict[str, Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        return {"amount": -payload["amount"]}

    app.mutation("saga.set")(_set)  # no inverse
    app.mutation("saga.explode")(_explode)
    return app


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_the_third_of_four_items_fails_and_the_first_two_are_compensated(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    s1, s2, s3 = uid("saga-a"), uid("saga-b"), uid("saga-c")
    async with running_mutator(dev_env, sqlite_store, saga_app()) as client:
        batch = await client.submit_batch(
            [
                BatchItem(state_id=s1, mutation="saga.add", payload={"amount": 1}),
                BatchItem(state_id=s1, mutation="saga.add", payload={"amount": 10}),
                BatchItem(state_id=s2, mutation="saga.explode", payload={}),
                BatchItem(state_id=s3, mutation="saga.add", payload={"amount": 100}),
            ],
            mode="sequential",
            compensate_on_failure=True,
            actor="alice",
            reason="move funds",
            wait=True,
            wait_timeout=60,
        )
        assert batch.status == RequestStatus.FAILED
        assert batch.compensate_on_failure
        outcomes = [(i.outcome, i.resulting_version, i.compensation) for i in batch.items]
        assert outcomes == [
            # undone second, by its inverse: s1 had moved past the version it made
            (ItemOutcome.COMPENSATED, 1, f"inverse: {s1} is now at version 4"),
            # undone first: its change was the latest, restored
            (ItemOutcome.COMPENSATED, 2, f"restore: {s1} is now at version 3"),
            (ItemOutcome.FAILED, None, ""),
            (ItemOutcome.NOT_RUN, None, ""),
        ]
        # Reverse order, one decision per compensated item.
        undone = [d.reason for d in batch.decisions if d.code == "item_compensated"]
        assert undone == [
            f"item 1 on {s1} compensated (restore: {s1} is now at version 3)",
            f"item 0 on {s1} compensated (inverse: {s1} is now at version 4)",
        ]
        assert batch.error is not None
        assert batch.error.startswith("0 of 4 items applied; item 0 compensated: inverse")
        assert "item 2 failed: saga.explode raised RuntimeError" in batch.error
        assert (await client.state(s1)).data == {"value": 0}
        assert [h.version for h in await client.history(s1)] == [1, 2, 3, 4]
        with pytest.raises(MutatorNotFound):  # the item after the failure never ran
            await client.state(s3)
    await _replays(dev_env, batch.request_id)


async def test_an_item_neither_restorable_nor_invertible_stays_applied_named(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    s1, s2 = uid("saga-d"), uid("saga-e")
    async with running_mutator(dev_env, sqlite_store, saga_app()) as client:
        batch = await client.submit_batch(
            [
                BatchItem(state_id=s1, mutation="saga.set", payload={"name": "a", "value": 1}),
                BatchItem(state_id=s1, mutation="saga.set", payload={"name": "b", "value": 2}),
                BatchItem(state_id=s2, mutation="saga.explode", payload={}),
            ],
            mode="sequential",
            compensate_on_failure=True,
            actor="alice",
            wait=True,
            wait_timeout=60,
        )
        assert batch.status == RequestStatus.FAILED
        first, second, _ = batch.items
        assert (second.outcome, second.compensation) == (
            ItemOutcome.COMPENSATED,
            f"restore: {s1} is now at version 3",
        )
        assert first.outcome == ItemOutcome.APPLIED
        assert first.compensation == (
            f"not compensated: item 0: {s1} has later versions 2, 3 and saga.set declares "
            "no inverse"
        )
        assert [d.code for d in batch.decisions].count("item_not_compensated") == 1
        assert (await client.state(s1)).data == {"a": 1}


@pytest.mark.parametrize("mode", ["atomic", "independent"])
async def test_only_a_sequential_batch_compensates(
    dev_env: WorkflowEnvironment, sqlite_store: Store, mode: str
) -> None:
    request_id = uid("saga-bad")
    async with running_mutator(dev_env, sqlite_store, saga_app()) as client:
        with pytest.raises(MutatorInputError, match="compensate_on_failure: only a sequential"):
            await client.submit_batch(
                [BatchItem(state_id=uid("s"), mutation="saga.add", payload={"amount": 1})],
                mode=mode,
                compensate_on_failure=True,
                actor="alice",
                request_id=request_id,
            )
        assert sqlite_store.get_request(request_id) is None
