"""The Python client stops bad input and oversized payloads before anything starts, and the
worker refuses what bypasses the client; a real dev server, a real worker, SQLite."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.limits import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    PayloadLimits,
)
from mutator.models import PendingReason, RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers import apps
from tests.helpers.workers import running_mutator

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def sid() -> str:
    return f"door-{uuid.uuid4().hex[:8]}"


def sized(size: int, **fields: Any) -> dict[str, Any]:
    """``fields`` padded to exactly ``size`` bytes of compact JSON."""
    base = json.dumps({**fields, "pad": ""}, separators=(",", ":"))
    return {**fields, "pad": "x" * (size - len(base))}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"amount": 1}
    for _ in range(levels - 1):
        value = {"amount": 1, "a": value}
    return value


BAD_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("lone-surrogate", {"amount": 1, "note": "\ud800"}, "payload.note: contains a lone surrogate"),
    ("nan", {"amount": 1, "x": float("nan")}, "payload.x: nan is not a JSON number"),
    ("infinity", {"amount": 1, "x": [float("inf")]}, "payload.x.0: inf is not a JSON number"),
    ("nul", {"amount": 1, "note": "a\x00b"}, "payload.note: contains a NUL character"),
    ("nested-500", nested(500), "payload: nested deeper than 64 levels"),
    ("nested-100k", nested(100_000), "payload: nested deeper than 64 levels"),
    ("not-json", {"amount": 1, "when": object()}, "payload.when: a object is not a JSON value"),
    (
        "over-the-limit",
        sized(DEFAULT_MAX_PAYLOAD_BYTES + 1, amount=1),
        f"payload: {DEFAULT_MAX_PAYLOAD_BYTES + 1} bytes is over the limit",
    ),
    ("issue-2.1MB", sized(2_100_000, amount=1), "payload: 2100000 bytes is over the limit"),
]


async def test_bad_payloads_raise_input_errors_and_start_nothing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        for case, payload, message in BAD_PAYLOADS:
            state = sid()
            with pytest.raises(MutatorInputError) as raised:
                await client.submit(state, "counter.add", payload, actor="alice")
            assert message in str(raised.value), case
            with pytest.raises(MutatorInputError) as in_batch:
                await client.submit_batch(
                    [{"state_id": state, "mutation": "counter.add", "payload": payload}],
                    mode="atomic",
                    actor="alice",
                )
            assert message.replace("payload", "items.0.payload", 1) in str(in_batch.value), case
            assert sqlite_store.list_requests(state_id=state, limit=10) == [], case


async def test_bad_text_raises_input_errors(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    too_long = "r" * (MAX_TEXT_CHARS + 1)
    async with running_mutator(dev_env, sqlite_store) as client:
        state = sid()
        submit_cases: list[tuple[dict[str, Any], str]] = [
            ({"actor": "al\x00ice"}, "actor: contains a NUL character"),
            ({"actor": "al\ud800"}, "actor: contains a lone surrogate"),
            ({"actor": "bob", "reason": "why\x00"}, "reason: contains a NUL character"),
            ({"actor": "bob", "reason": too_long}, "reason: 4001 characters is over the limit"),
            ({"actor": "bob", "request_id": ""}, "request_id: must not be empty"),
        ]
        for kwargs, message in submit_cases:
            with pytest.raises(MutatorInputError, match=message):
                await client.submit(state, "counter.add", {"amount": 1}, **kwargs)
            with pytest.raises(MutatorInputError, match=message):
                await client.submit_batch(
                    [{"state_id": state, "mutation": "counter.add", "payload": {"amount": 1}}],
                    mode="atomic",
                    **kwargs,
                )
        with pytest.raises(MutatorInputError, match="mutation: contains a NUL character"):
            await client.submit(state, "counter.add\x00", {}, actor="bob")
        with pytest.raises(MutatorInputError, match="items.0.mutation: contains the unprintable"):
            await client.submit_batch(
                [{"state_id": state, "mutation": "counter.add\n", "payload": {}}],
                mode="atomic",
                actor="bob",
            )
        with pytest.raises(MutatorInputError, match="expected_version: must be 0-2147483647"):
            await client.submit(
                state, "counter.add", {"amount": 1}, actor="b", expected_version=2**63
            )
        assert sqlite_store.list_requests(state_id=state, limit=10) == []

        pending = await client.submit(state, "reviewed.add", {"amount": 1}, actor="dave")
        assert pending.status == RequestStatus.PENDING
        rid = pending.request_id
        with pytest.raises(MutatorInputError, match="comment: 4001 characters is over the limit"):
            await client.approve(rid, actor="alice", comment="c" * (MAX_TEXT_CHARS + 1))
        with pytest.raises(MutatorInputError, match="comment: contains a NUL character"):
            await client.approve(rid, actor="alice", comment="ok\x00")
        with pytest.raises(MutatorInputError, match="actor: contains a NUL character"):
            await client.approve(rid, actor="alice\x00")
        with pytest.raises(MutatorInputError, match="update_id: must not be empty"):
            await client.approve(rid, actor="alice", update_id="")
        with pytest.raises(MutatorInputError, match="reason: contains a lone surrogate"):
            await client.reject(rid, actor="alice", reason="no \udfff")
        with pytest.raises(MutatorInputError, match="reason: 4001 characters"):
            await client.cancel(rid, actor="dave", reason=too_long)
        unchanged = await client.get(rid)
        assert (unchanged.status, unchanged.approvals) == (RequestStatus.PENDING, [])

        at_limit = "c" * MAX_TEXT_CHARS
        voted = await client.approve(rid, actor="alice", comment=at_limit)
        assert voted.approvals[0].comment == at_limit
        canceled = await client.cancel(rid, actor="dave", reason="r" * MAX_TEXT_CHARS)
        assert canceled.status == RequestStatus.CANCELED


async def test_payloads_at_the_limits_run(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        a, b = sid(), sid()
        done = await client.submit(
            a, "counter.add", sized(DEFAULT_MAX_PAYLOAD_BYTES, amount=2), actor="alice"
        )
        assert (done.status, done.resulting_version) == (RequestStatus.EXECUTED, 1)
        half = DEFAULT_MAX_BATCH_BYTES // 2

        def items(second: int) -> list[dict[str, Any]]:
            return [
                {"state_id": a, "mutation": "counter.add", "payload": sized(half, amount=1)},
                {"state_id": b, "mutation": "counter.add", "payload": sized(second, amount=1)},
            ]

        with pytest.raises(MutatorInputError, match="over the limit of 393216 bytes per batch"):
            await client.submit_batch(items(half + 1), mode="atomic", actor="alice")
        batch = await client.submit_batch(items(half), mode="atomic", actor="alice")
        assert batch.status == RequestStatus.EXECUTED
        assert (await client.state(a)).data["value"] == 3
        too_many = [{"state_id": a, "mutation": "counter.add", "payload": {"amount": 1}}] * 101
        with pytest.raises(MutatorInputError, match="items: 101 items is over the limit of 100"):
            await client.submit_batch(too_many, mode="independent", actor="alice")
        small = MutatorClient(
            client.temporal,
            sqlite_store,
            task_queue=client.task_queue,
            search_attributes=client.search_attributes,
            limits=PayloadLimits(max_payload_bytes=100, max_batch_bytes=150, max_batch_items=2),
        )
        with pytest.raises(MutatorInputError, match="payload: 101 bytes is over the limit of 100"):
            await small.submit(a, "counter.add", sized(101, amount=1), actor="alice")
        assert (await small.submit(a, "counter.add", sized(100, amount=1), actor="bob")).status == (
            RequestStatus.EXECUTED
        )


async def test_the_worker_refuses_a_payload_over_its_limit(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """A caller that bypasses the client's limits (here: a client with higher ones) is
    refused by the worker's evaluation, as validation_failed, and nothing applies."""
    async with running_mutator(dev_env, sqlite_store) as client:
        generous = MutatorClient(
            client.temporal,
            sqlite_store,
            task_queue=client.task_queue,
            search_attributes=client.search_attributes,
            limits=PayloadLimits(max_payload_bytes=400_000, max_batch_bytes=400_000),
        )
        state = sid()
        over = DEFAULT_MAX_PAYLOAD_BYTES + 1
        refused = await generous.submit(state, "counter.add", sized(over, amount=1), actor="a")
        assert refused.status == RequestStatus.REJECTED
        assert refused.rejection is not None
        assert refused.rejection.code == RejectionCode.VALIDATION_FAILED
        assert f"payload: {over} bytes is over the limit of {DEFAULT_MAX_PAYLOAD_BYTES}" in (
            refused.rejection.reason
        )
        batch = await generous.submit_batch(
            [{"state_id": state, "mutation": "counter.add", "payload": sized(over, amount=1)}],
            mode="independent",
            actor="alice",
        )
        assert batch.status == RequestStatus.REJECTED
        assert batch.rejection is not None
        assert batch.rejection.code == RejectionCode.VALIDATION_FAILED
        assert "items.0.payload" in batch.rejection.reason
        assert sqlite_store.get_state(state) is None


async def test_a_busy_worker_is_not_called_missing(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    """A worker that polls but has not answered yet: the request is returned as it stands
    (pending, evaluation) and runs; `wait` follows it before it is stored."""
    apps.execution_gate.clear()
    try:
        async with running_mutator(dev_env, sqlite_store) as client:
            client.admission_timeout = 1.0
            state = sid()
            req = await client.submit(state, "slow.add", {"amount": 4}, actor="alice")
            assert (req.status, req.pending_reason) == (
                RequestStatus.PENDING,
                PendingReason.EVALUATION,
            )
            assert req.error is not None
            assert "busy or restarting" in req.error
            apps.execution_gate.set()
            done = await client.wait(req.request_id, timeout=30)
            assert (done.status, done.resulting_version) == (RequestStatus.EXECUTED, 1)
    finally:
        apps.execution_gate.set()


async def test_no_worker_is_said_only_when_none_polls(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    sqlite_store.register_mutations({"counter.add": "reject"})
    client = MutatorClient(
        dev_env.client, sqlite_store, task_queue=f"nobody-{uuid.uuid4().hex[:8]}"
    )
    client.admission_timeout = 1.0
    rid = f"lonely-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(MutatorUnavailable, match="no worker polls task queue 'nobody-"):
            await client.submit(sid(), "counter.add", {"amount": 1}, actor="a", request_id=rid)
    finally:
        await _terminate(dev_env.client, rid)


async def _terminate(client: Client, request_id: str) -> None:
    await client.get_workflow_handle(request_workflow_id(request_id)).terminate("test cleanup")
