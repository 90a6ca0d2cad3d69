"""Batches under conflict: atomic, sequential and independent, on a real dev server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.errors import MutatorInputError, MutatorNotFound
from mutator.models import ItemOutcome, MutationRequest, RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.workers import running_mutator


def _ids(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"b{i}-{tag}" for i in range(n)]


def _add(state_id: str, amount: int) -> dict[str, Any]:
    return {"state_id": state_id, "mutation": "counter.add", "payload": {"amount": amount}}


def _outcomes(req: MutationRequest) -> list[ItemOutcome]:
    return [item.outcome for item in req.items]


async def test_atomic_batch_applies_every_item_in_one_transaction(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch(
            [_add(a, 1), _add(b, 2), _add(a, 3)], mode="atomic", actor="alice"
        )
        assert req.status == RequestStatus.EXECUTED
        assert _outcomes(req) == [ItemOutcome.APPLIED] * 3
        assert [i.resulting_version for i in req.items] == [1, 1, 2]
        assert (await client.state(a)).data == {"value": 4}
        assert (await client.state(b)).data == {"value": 2}
        history = await client.history(a)
        assert [(h.version, h.request_id, h.data) for h in history] == [
            (1, f"{req.request_id}#0", {"value": 1}),
            (2, f"{req.request_id}#2", {"value": 4}),
        ]


async def test_atomic_batch_with_a_refused_item_applies_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        await client.submit(b, "counter.add", {"amount": 5}, actor="alice")
        # Each item passes validation on its own at submission (5 - 3 >= 0); at execution
        # item 2 sees what item 1 left (2 - 3 < 0) and is refused mid-flight.
        req = await client.submit_batch(
            [_add(a, 1), _add(b, -3), _add(b, -3)], mode="atomic", actor="alice"
        )
        assert req.status == RequestStatus.REJECTED
        assert req.rejection is not None
        assert req.rejection.code == RejectionCode.VALIDATION_FAILED
        assert _outcomes(req) == [
            ItemOutcome.ROLLED_BACK,
            ItemOutcome.ROLLED_BACK,
            ItemOutcome.REJECTED,
        ]
        assert "cannot go below zero" in req.items[2].reason
        assert await client.history(a) == []
        assert [h.version for h in await client.history(b)] == [1]


async def test_atomic_batch_with_a_stale_item_is_rejected_whole(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch(
            [
                {"state_id": a, "mutation": "reviewed.add", "payload": {"amount": 1}},
                {"state_id": b, "mutation": "reviewed.add", "payload": {"amount": 1}},
            ],
            mode="atomic",
            actor="dave",
        )
        assert (req.status, [i.base_version for i in req.items]) == (RequestStatus.PENDING, [0, 0])
        await client.submit(a, "counter.add", {"amount": 9}, actor="alice")
        await client.approve(req.request_id, actor="alice")
        await client.approve(req.request_id, actor="bob")
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.REJECTED
        assert done.rejection is not None
        assert done.rejection.code == RejectionCode.STALE
        assert _outcomes(done) == [ItemOutcome.REJECTED, ItemOutcome.ROLLED_BACK]
        assert "base version 0" in done.items[0].reason
        assert await client.history(b) == []


async def test_sequential_batch_stops_at_the_first_failure(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b, c = _ids(3)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch(
            [_add(a, 1), {"state_id": b, "mutation": "broken.explode"}, _add(c, 1)],
            mode="sequential",
            actor="alice",
        )
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.FAILED
        assert _outcomes(done) == [ItemOutcome.APPLIED, ItemOutcome.FAILED, ItemOutcome.NOT_RUN]
        assert "the handler blew up" in done.items[1].reason
        assert done.error is not None
        assert "1 of 3 items applied" in done.error
        assert (await client.state(a)).data == {"value": 1}
        assert await client.history(b) == []
        assert await client.history(c) == []


async def test_independent_batch_runs_every_item(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b, c = _ids(3)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch(
            [_add(a, 1), {"state_id": b, "mutation": "broken.explode"}, _add(c, 2)],
            mode="independent",
            actor="alice",
        )
        done = await client.wait(req.request_id, timeout=30)
        assert done.status == RequestStatus.FAILED
        assert _outcomes(done) == [ItemOutcome.APPLIED, ItemOutcome.FAILED, ItemOutcome.APPLIED]
        assert (await client.state(c)).data == {"value": 2}
        assert await client.history(b) == []


async def test_two_atomic_batches_over_overlapping_states_do_not_deadlock(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    x, y = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        first, second = await asyncio.gather(
            client.submit_batch([_add(x, 1), _add(y, 1)], mode="atomic", actor="alice"),
            client.submit_batch([_add(y, 10), _add(x, 10)], mode="atomic", actor="bob"),
        )
        first = await client.wait(first.request_id, timeout=30)
        second = await client.wait(second.request_id, timeout=30)
    assert (first.status, second.status) == (RequestStatus.EXECUTED, RequestStatus.EXECUTED)
    assert (await client.state(x)).data == {"value": 11}
    assert (await client.state(y)).data == {"value": 11}
    # One batch ran entirely before the other on both states: no interleaving.
    x_order = [h.request_id.split("#")[0] for h in await client.history(x)]
    y_order = [h.request_id.split("#")[0] for h in await client.history(y)]
    assert x_order == y_order


async def test_batch_refused_at_submission_marks_every_item_not_run(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch([_add(a, 1), _add(b, 5000)], mode="atomic", actor="alice")
        assert req.status == RequestStatus.REJECTED
        assert req.rejection is not None
        assert req.rejection.code == RejectionCode.POLICY_DENIED
        assert "item 1 (counter.add on " in req.rejection.reason
        assert _outcomes(req) == [ItemOutcome.NOT_RUN, ItemOutcome.NOT_RUN]
        assert await client.history(a) == []


async def test_bad_batches_are_refused_before_anything_runs(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    (a,) = _ids(1)
    async with running_mutator(dev_env, sqlite_store) as client:
        with pytest.raises(MutatorInputError, match="mode: 'sometimes' is not a batch mode"):
            await client.submit_batch([_add(a, 1)], mode="sometimes", actor="alice")
        with pytest.raises(MutatorInputError, match="a batch needs at least one item"):
            await client.submit_batch([], mode="atomic", actor="alice")
        with pytest.raises(MutatorInputError, match="items.1.mutation: unknown mutation 'nope'"):
            await client.submit_batch(
                [_add(a, 1), {"state_id": a, "mutation": "nope"}], mode="atomic", actor="alice"
            )
        with pytest.raises(MutatorInputError, match="state_id"):
            await client.submit_batch(
                [{"state_id": "has space", "mutation": "counter.add"}], mode="atomic", actor="a"
            )
        with pytest.raises(MutatorNotFound):
            await client.state(a)
        assert (await client.list(state_id=a)).requests == []


async def test_batch_is_listed_and_audited_under_each_of_its_states(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    a, b = _ids(2)
    async with running_mutator(dev_env, sqlite_store) as client:
        req = await client.submit_batch([_add(a, 1), _add(b, 1)], mode="atomic", actor="alice")
        for state_id in (a, b):
            assert [r.request_id for r in (await client.list(state_id=state_id)).requests] == [
                req.request_id
            ]
            assert {e.request_id for e in await client.audit(state_id=state_id)} == {req.request_id}
        # A state id that is only a prefix or a LIKE pattern of a member matches nothing.
        assert (await client.list(state_id=a[:-1])).requests == []
        assert (await client.list(state_id=a.replace("-", "_"))).requests == []
