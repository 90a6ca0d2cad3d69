"""Supersede end to end on a real Temporal dev server and store.

The older request is pending (approval), approved and queued on its state's lane, or
executing (directly, or in its lane turn): only the first two are superseded. A newer
request and an older one about to execute race, and never both win.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from mutator import Allow, Deny, MutationApp, PolicyContext, PolicyDecision, RequireApprovals
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from mutator.supersede_contracts import SUPERSEDE_UPDATE, SupersedeResult
from tests.helpers.workers import assert_eventually, running_mutator

# Per marker: a handler whose marker is held waits until it is released.
HELD: dict[str, threading.Event] = {}
ENTERED: dict[str, threading.Event] = {}


def hold(marker: str) -> None:
    HELD[marker] = threading.Event()
    ENTERED[marker] = threading.Event()


def _set(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    marker = payload.get("marker", "")
    if marker in ENTERED:
        ENTERED[marker].set()
    if marker in HELD:
        HELD[marker].wait(timeout=45)  # longer than any wait for it below
    return {**state, "value": payload["value"], "by": marker}


def one_approval(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"alice"})


def no_negative(ctx: PolicyContext) -> PolicyDecision:
    return Deny("value below zero") if ctx.payload.get("value", 0) < 0 else Allow()


def supersede_app() -> MutationApp:
    app = MutationApp()
    app.mutation("sup.reviewed", supersede=True)(_set)  # needs alice's approval
    app.mutation("sup.auto", supersede=True)(_set)  # allowed at once
    app.mutation("plain.set")(_set)  # never supersedes
    app.policy("sup.reviewed")(one_approval)
    app.policy("sup.*")(no_negative)
    return app


@pytest.fixture(autouse=True)
def _release_all() -> Any:
    yield
    for event in HELD.values():
        event.set()


async def _status(store: Store, request_id: str) -> RequestStatus | None:
    stored = await asyncio.to_thread(store.get_request, request_id)
    return stored.status if stored else None


def _tag() -> str:
    return uuid.uuid4().hex[:6]


async def _submit(
    client: MutatorClient, state: str, mutation: str, marker: str, value: int = 1
) -> MutationRequest:
    return await client.submit(
        state,
        mutation,
        {"value": value, "marker": marker},
        actor="dave",
        request_id=marker,
    )


async def _hold_lane(client: MutatorClient, state: str, holder: str) -> asyncio.Future[Any]:
    """Start ``holder`` in its turn on the state's lane (an expected version takes the lane)
    and wait until its handler runs; it holds the state until ``HELD[holder]`` is set."""
    hold(holder)
    holding = asyncio.ensure_future(
        client.submit(
            state,
            "plain.set",
            {"value": 0, "marker": holder},
            actor="dave",
            request_id=holder,
            expected_version=0,
        )
    )
    assert await asyncio.to_thread(ENTERED[holder].wait, 30)
    return holding


def _codes(req: MutationRequest) -> list[str]:
    return [d.code for d in req.decisions]


async def test_newer_pending_request_supersedes_the_older_pending_one(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state, other = f"sup-p-{tag}", f"sup-p2-{tag}"
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        older = await _submit(client, state, "sup.reviewed", f"a-{tag}")
        elsewhere = await _submit(client, other, "sup.reviewed", f"x-{tag}")
        plain = await _submit(client, state, "plain.set", f"p-{tag}")
        denied = await _submit(client, state, "sup.reviewed", f"d-{tag}", value=-1)
        assert denied.status == RequestStatus.REJECTED
        assert (older.status, elsewhere.status) == (RequestStatus.PENDING, RequestStatus.PENDING)
        # A denied newer request ends nothing: the older one still waits.
        assert (await client.get(older.request_id)).status == RequestStatus.PENDING
        newer = await _submit(client, state, "sup.reviewed", f"b-{tag}", value=2)
        # Answered once the older ones are ended: `submit` shows what it superseded.
        assert newer.status == RequestStatus.PENDING
        assert newer.supersedes == [older.request_id]
        assert newer.decisions[-1].code == "supersedes"
        assert newer.decisions[-1].reason == f"superseded {older.request_id}"
        ended = await client.get(older.request_id)
        assert (ended.status, ended.superseded_by) == (RequestStatus.SUPERSEDED, newer.request_id)
        assert ended.pending_reason is None
        assert _codes(ended)[-1] == "superseded"
        assert ended.decisions[-1].reason == (
            f"superseded by {newer.request_id}, a newer request for sup.reviewed on {state}"
        )
        assert (await client.wait(older.request_id, timeout=10)).status == RequestStatus.SUPERSEDED
        # The UI's current details say it, on both sides.
        for rid, line in [
            (older.request_id, f"superseded by {newer.request_id}"),
            (newer.request_id, f"supersedes {older.request_id}"),
        ]:
            metadata = await dev_env.client.get_workflow_handle(request_workflow_id(rid)).query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            assert line in metadata.current_details.split("\n\n")
        # Another state and another mutation are left alone.
        assert (await client.get(elsewhere.request_id)).status == RequestStatus.PENDING
        assert (await client.get(plain.request_id)).status == RequestStatus.EXECUTED
        listed = await client.list(status="superseded", state_id=state)
        assert [r.request_id for r in listed.requests] == [older.request_id]
        # A vote for the superseded request is refused; the newer one executes.
        with pytest.raises(Exception, match="superseded"):
            await client.approve(older.request_id, actor="alice")
        await client.approve(newer.request_id, actor="alice")
        done = await client.wait(newer.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert [h.request_id for h in await client.history(state)] == [
            plain.request_id,
            newer.request_id,
        ]
        await client.cancel(elsewhere.request_id, actor="dave", reason="done")


async def test_approved_request_queued_on_the_lane_leaves_it_superseded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state = f"sup-q-{tag}"
    holder, older, newer = f"h-{tag}", f"a-{tag}", f"b-{tag}"
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        holding = await _hold_lane(client, state, holder)
        queued = asyncio.ensure_future(_submit(client, state, "sup.auto", older))

        async def older_is_queued() -> None:
            assert await _status(sqlite_store, older) == RequestStatus.APPROVED
            locks = {lock.state_id: lock for lock in await client.locks()}
            assert state in locks
            assert older in locks[state].queued_request_ids

        await assert_eventually(older_is_queued, timeout=30)
        superseding = asyncio.ensure_future(_submit(client, state, "sup.auto", newer, value=2))
        ended = await client.wait(older, timeout=30)
        assert (ended.status, ended.superseded_by) == (RequestStatus.SUPERSEDED, newer)
        HELD[holder].set()
        await holding
        assert (await client.wait(holder, timeout=30)).status == RequestStatus.EXECUTED
        assert (await queued).status in (RequestStatus.APPROVED, RequestStatus.SUPERSEDED)
        await superseding
        done = await client.wait(newer, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        assert done.supersedes == [older]
        assert [h.request_id for h in await client.history(state)] == [holder, newer]
        assert (await client.state(state)).data == {"value": 2, "by": newer}

        async def lane_is_empty() -> None:
            locks = {lock.state_id: lock for lock in await client.locks()}
            if state in locks:  # open until idle: nobody holds it, nobody waits
                assert (locks[state].holder_request_id, locks[state].queue_length) == (None, 0)

        await assert_eventually(lane_is_empty, timeout=30)


async def test_a_request_executing_directly_is_not_superseded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state = f"sup-d-{tag}"
    older, newer = f"a-{tag}", f"b-{tag}"
    hold(older)
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        executing = asyncio.ensure_future(_submit(client, state, "sup.auto", older))
        assert await asyncio.to_thread(ENTERED[older].wait, 30)
        superseding = asyncio.ensure_future(_submit(client, state, "sup.auto", newer, value=2))
        HELD[older].set()
        assert (await executing).status == RequestStatus.EXECUTED
        await superseding
        done = await client.wait(newer, timeout=30)
        assert (done.status, done.supersedes) == (RequestStatus.EXECUTED, [])
        assert "supersedes" not in _codes(done)
        kept = await client.get(older)
        assert (kept.status, kept.superseded_by) == (RequestStatus.EXECUTED, None)
        assert [h.request_id for h in await client.history(state)] == [older, newer]


async def test_a_request_executing_in_its_lane_turn_is_not_superseded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state = f"sup-t-{tag}"
    holder, older, newer = f"h-{tag}", f"a-{tag}", f"b-{tag}"
    hold(older)
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        holding = await _hold_lane(client, state, holder)
        queued = asyncio.ensure_future(_submit(client, state, "sup.auto", older))

        async def older_is_queued() -> None:
            locks = {lock.state_id: lock for lock in await client.locks()}
            assert state in locks
            assert older in locks[state].queued_request_ids

        await assert_eventually(older_is_queued, timeout=30)
        HELD[holder].set()
        # Its turn came: its handler runs (and waits).
        assert await asyncio.to_thread(ENTERED[older].wait, 30)
        newest = await _submit(client, state, "sup.auto", newer, value=2)
        assert newest.supersedes == []
        HELD[older].set()
        assert (await client.wait(older, timeout=30)).status == RequestStatus.EXECUTED
        assert (await client.wait(newer, timeout=30)).status == RequestStatus.EXECUTED
        await holding
        await queued
        assert [h.request_id for h in await client.history(state)] == [holder, older, newer]


async def _asked_to_supersede(env: WorkflowEnvironment, request_id: str) -> None:
    history = await env.client.get_workflow_handle(request_workflow_id(request_id)).fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert SUPERSEDE_UPDATE in accepted


async def test_an_older_request_about_to_execute_and_a_newer_one_never_both_win(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """The older one's turn comes while the newer one asks it to end: exactly one wins.

    The state is released once the older one accepted the newer one's supersede update, so
    the older one's lane turn and its withdraw are in flight together; or just before the
    newer one is submitted.
    """
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        for round_ in range(6):
            tag = _tag()
            state = f"sup-race-{round_}-{tag}"
            holder, older, newer = f"h-{tag}", f"a-{tag}", f"b-{tag}"
            holding = await _hold_lane(client, state, holder)
            queued = asyncio.ensure_future(_submit(client, state, "sup.auto", older))

            async def older_is_queued(state: str = state, older: str = older) -> None:
                locks = {lock.state_id: lock for lock in await client.locks()}
                assert state in locks
                assert older in locks[state].queued_request_ids
                # And stored: a newer request finds its candidates in the store (a request
                # still in its first evaluation is not there yet, and is not superseded).
                assert await _status(sqlite_store, older) == RequestStatus.APPROVED

            await assert_eventually(older_is_queued, timeout=30)
            if round_ % 2:
                HELD[holder].set()
                await _submit(client, state, "sup.auto", newer, value=2)
            else:
                superseding = asyncio.ensure_future(
                    _submit(client, state, "sup.auto", newer, value=2)
                )
                await assert_eventually(functools.partial(_asked_to_supersede, dev_env, older))
                HELD[holder].set()
                await superseding
            await holding
            await queued
            first = await client.wait(older, timeout=30)
            second = await client.wait(newer, timeout=30)
            history = [h.request_id for h in await client.history(state)]
            assert second.status == RequestStatus.EXECUTED
            if first.status == RequestStatus.SUPERSEDED:
                assert (first.superseded_by, second.supersedes) == (newer, [older])
                assert history == [holder, newer]
            else:
                assert first.status == RequestStatus.EXECUTED
                assert (first.superseded_by, second.supersedes) == (None, [])
                assert history == [holder, older, newer]


async def test_a_forged_supersede_is_refused_and_changes_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state = f"sup-f-{tag}"
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        older = await _submit(client, state, "sup.reviewed", f"a-{tag}")
        unrelated = await _submit(client, f"{state}-x", "sup.reviewed", f"x-{tag}")
        handle = dev_env.client.get_workflow_handle(request_workflow_id(older.request_id))
        before = await client.get(older.request_id)
        for by, why in [
            ("no-such-request", "no request with that id is stored"),
            (unrelated.request_id, f"is not a request for sup.reviewed on {state}"),
            (older.request_id, "cannot supersede itself"),
        ]:
            answer = await handle.execute_update(
                SUPERSEDE_UPDATE, {"by": by}, result_type=SupersedeResult
            )
            assert not answer.superseded
            assert why in answer.reason
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SUPERSEDE_UPDATE, {"by": 5}, result_type=SupersedeResult)
        assert "by" in str(refused.value.cause)
        after = await client.get(older.request_id)
        assert after == before
        assert after.status == RequestStatus.PENDING
        await client.cancel(older.request_id, actor="dave", reason="done")
        await client.cancel(unrelated.request_id, actor="dave", reason="done")


async def test_a_request_waiting_for_its_dependency_is_superseded(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = _tag()
    state = f"sup-dep-{tag}"
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        first = await _submit(client, f"{state}-x", "sup.reviewed", f"x-{tag}")
        older = await client.submit(
            state,
            "sup.auto",
            {"value": 1, "marker": f"a-{tag}"},
            actor="dave",
            request_id=f"a-{tag}",
            after=[first.request_id],
        )
        assert (older.status, older.pending_reason) == (RequestStatus.PENDING, "dependency")
        newer = await _submit(client, state, "sup.auto", f"b-{tag}", value=2)
        assert (newer.status, newer.supersedes) == (RequestStatus.EXECUTED, [older.request_id])
        ended = await client.wait(older.request_id, timeout=30)
        assert (ended.status, ended.superseded_by) == (RequestStatus.SUPERSEDED, newer.request_id)
        # Its dependency ending later changes nothing.
        await client.approve(first.request_id, actor="alice")
        assert (await client.wait(first.request_id, timeout=30)).status == RequestStatus.EXECUTED
        assert (await client.get(older.request_id)).status == RequestStatus.SUPERSEDED
        assert [h.request_id for h in await client.history(state)] == [newer.request_id]
