"""No message can break a workflow: every signal and update of the request workflow (a
batch included) and of the state lane, sent malformed through the real dev server.

After each kind of bad message the workflow's history has no failed workflow task, and
the requests it was sent to can still be approved, rejected and canceled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.contracts import MAX_ACTOR_CHARS, request_workflow_id
from mutator.lane_contracts import lane_workflow_id
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from mutator.temporal import binary_path
from mutator.workflows.messages import MAX_RECORDED_CHARS
from mutator.workflows.request_votes import MAX_REFUSED_ATTEMPTS_KEPT
from tests.helpers import apps
from tests.helpers.replays import assert_replays
from tests.helpers.workers import assert_eventually, running_mutator

pytestmark = pytest.mark.fault

T = TypeVar("T")

HUGE = "x" * 1_500_000
# Far below the time a wedged workflow task would take (it never answers).
ANSWER_SECONDS = 15.0


@dataclass(frozen=True)
class Handler:
    name: str
    update: bool
    # A well-formed input that still counts for nothing (ineligible actor, unknown owner).
    shape: dict[str, Any]


REQUEST_HANDLERS = [
    Handler("approve_signal", False, {"actor": "zed", "comment": "ok"}),
    Handler("reject_signal", False, {"actor": "zed", "reason": "no"}),
    Handler("cancel_signal", False, {"actor": "zed", "reason": "no"}),
    Handler("lane_granted", False, {"state_id": "elsewhere", "token": 7, "lease_seconds": 1}),
    Handler("lane_executed", False, {"state_id": "elsewhere", "token": 0}),
    Handler("admission", True, {}),
    Handler("approve", True, {"actor": "zed", "comment": "ok"}),
    Handler("reject", True, {"actor": "zed", "reason": "no"}),
    Handler("cancel", True, {"actor": "zed", "reason": "no"}),
    Handler("check_signal", False, {"actor": "zed", "name": "ci", "result": "passed"}),
    Handler("check", True, {"actor": "zed", "name": "ci", "result": "passed"}),
    Handler("override_signal", False, {"actor": "zed", "reason": "no"}),
    Handler("override", True, {"actor": "zed", "reason": "no"}),
]
LANE_HANDLERS = [
    Handler("acquire", False, {"owner": "mutation-request:nobody", "request_id": "nobody"}),
    Handler("attach_execution", False, {"owner": "mutation-request:nobody"}),
    Handler("release", False, {"owner": "mutation-request:nobody", "token": 1}),
    Handler("renew", False, {"owner": "mutation-request:nobody", "token": 1}),
]


def hostile_inputs(handler: Handler) -> dict[str, list[Any]]:
    """Each kind of bad message, as the list of its payloads."""
    shape = handler.shape
    first = next(iter(shape), None)
    wrong_types: dict[str, Any] = {name: [1, 2] for name in shape}
    kinds: dict[str, list[Any]] = {
        "no args": [],
        "two args": [shape, shape],
        "wrong types": [wrong_types] if shape else ["an object was expected"],
        "extra fields": [{**shape, "bogus": 1}],
        "null": [None],
        "huge string": [{**shape, first: HUGE}] if first else [HUGE],
        "not JSON": [RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{oops"))],
    }
    if first:
        kinds["missing field"] = [{k: v for k, v in shape.items() if k != first}]
    return kinds


async def answered(call: Awaitable[T]) -> T:
    """A wedged workflow task never answers: fail at once instead of hanging."""
    return await asyncio.wait_for(call, ANSWER_SECONDS)


async def failed_tasks(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [
        event.workflow_task_failed_event_attributes.failure.message
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the worker logged with a traceback: bad messages are expected, not bugs."""
    return [record.getMessage()[:200] for record in caplog.records if record.exc_info]


async def send(handle: WorkflowHandle[Any, Any], handler: Handler, args: list[Any]) -> str:
    """Send; for an update, the refusal it answered with ("" for a signal)."""
    if not handler.update:
        await handle.signal(handler.name, args=args)
        return ""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await answered(handle.execute_update(handler.name, args=args))
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


async def test_two_inputs_from_the_temporal_cli_do_not_wedge_the_request(
    dev_env: WorkflowEnvironment, mutator_client: MutatorClient
) -> None:
    """The issue's command, with the installed `temporal` binary."""
    client = mutator_client
    req = await pending(client, f"w1-{uuid.uuid4().hex[:6]}")
    workflow_id = request_workflow_id(req.request_id)
    signal = await asyncio.create_subprocess_exec(
        *(binary_path("temporal"), "workflow", "signal", "--workflow-id", workflow_id),
        *("--name", "approve_signal", "--input", '{"actor":"zed"}', "--input", '{"actor":"zed2"}'),
        *("--address", dev_env.client.service_client.config.target_host),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await signal.communicate()
    assert signal.returncode == 0, (out, err)

    async def refused() -> None:
        stored = await client.get(req.request_id)
        assert [(d.code, d.actor, d.reason) for d in stored.decisions][-1] == (
            "refused_attempt",
            "zed",
            "approve: input: expected one JSON object (fields: actor, comment, envelope, "
            "signature), got 2 values",
        )

    await assert_eventually(refused)
    await answered(client.approve(req.request_id, actor="alice"))
    await answered(client.approve(req.request_id, actor="bob"))
    assert (await client.wait(req.request_id, timeout=20)).status == RequestStatus.EXECUTED
    assert await failed_tasks(dev_env.client.get_workflow_handle(workflow_id)) == []


@pytest.fixture(scope="module")
def execution_probe() -> apps.ExecutionProbe:
    """The probe behind the module's worker; only the lane test submits to it."""
    return apps.ExecutionProbe(hold_seconds=0, gated={"held"})


@pytest.fixture(scope="module")
async def mutator_client(
    dev_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    execution_probe: apps.ExecutionProbe,
) -> AsyncIterator[MutatorClient]:
    """One worker for the whole matrix."""
    path: Path = tmp_path_factory.mktemp("hostile") / "mutator.db"
    store = Store.from_url(f"sqlite:///{path}")
    store.migrate()
    try:
        async with running_mutator(dev_env, store, apps.build_app(execution_probe)) as client:
            yield client
    finally:
        store.dispose()


async def pending(client: MutatorClient, tag: str) -> MutationRequest:
    req = await client.submit(
        f"hostile-{tag}", "reviewed.add", {"amount": 1}, actor="dave", request_id=tag
    )
    assert req.status == RequestStatus.PENDING
    return req


async def still_governed(client: MutatorClient, ids: list[str]) -> None:
    """Approved to quorum, rejected, canceled: one request each, answered promptly."""
    approve, reject, cancel = ids
    await answered(client.approve(approve, actor="alice"))
    await answered(client.approve(approve, actor="bob"))
    assert (await client.wait(approve, timeout=20)).status == RequestStatus.EXECUTED
    assert (await answered(client.reject(reject, actor="carol", reason="no"))).status == (
        RequestStatus.REJECTED
    )
    assert (await answered(client.cancel(cancel, actor="dave"))).status == RequestStatus.CANCELED


@pytest.mark.parametrize("handler", REQUEST_HANDLERS, ids=lambda h: h.name)
async def test_request_survives_every_bad_message(
    dev_env: WorkflowEnvironment,
    mutator_client: MutatorClient,
    handler: Handler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = mutator_client
    tag = f"{handler.name}-{uuid.uuid4().hex[:6]}"
    requests = [await pending(client, f"{tag}-{n}") for n in range(3)]
    handles = [
        dev_env.client.get_workflow_handle(request_workflow_id(r.request_id)) for r in requests
    ]
    kinds = hostile_inputs(handler)
    for handle in handles:
        for kind, args in kinds.items():
            refusal = await send(handle, handler, args)
            if handler.update:
                # The caller is told which field is wrong, and nothing is recorded.
                fields = ("input", "'bogus'", *handler.shape)
                assert refusal.startswith(fields), (kind, refusal)
                assert len(refusal) < 400, kind
    await still_governed(client, [r.request_id for r in requests])
    for handle in handles:
        assert await failed_tasks(handle) == []
    await assert_replays(handles)
    assert tracebacks(caplog) == []
    stored = await client.get(requests[0].request_id)
    refused = [d for d in stored.decisions if d.code == "refused_attempt"]
    if handler.name.endswith("_signal"):
        # Public signals: each bad one is on the record, clipped.
        assert len(refused) == len(kinds)
        assert all(len(d.actor) <= MAX_ACTOR_CHARS for d in refused)
        assert all(len(d.reason) <= MAX_RECORDED_CHARS for d in refused)
        action = handler.name.removesuffix("_signal")
        assert f"{action}: input: expected one JSON object" in refused[1].reason  # two args
    else:
        # Updates answered their caller; internal signals were ignored with a log line.
        assert refused == []


async def test_batch_survives_bad_messages(
    dev_env: WorkflowEnvironment, mutator_client: MutatorClient
) -> None:
    client = mutator_client
    tag = uuid.uuid4().hex[:6]
    items = [
        {
            "state_id": f"hostile-batch-{tag}-{n}",
            "mutation": "reviewed.add",
            "payload": {"amount": 1},
        }
        for n in range(2)
    ]
    batch = await client.submit_batch(items, mode="atomic", actor="dave")
    assert batch.status == RequestStatus.PENDING
    handle = dev_env.client.get_workflow_handle(request_workflow_id(batch.request_id))
    for handler in REQUEST_HANDLERS:
        for kind, args in hostile_inputs(handler).items():
            if kind != "huge string":  # sizes are covered on single requests
                await send(handle, handler, args)
    await answered(client.approve(batch.request_id, actor="alice"))
    await answered(client.approve(batch.request_id, actor="bob"))
    assert (await client.wait(batch.request_id, timeout=30)).status == RequestStatus.EXECUTED
    assert await failed_tasks(handle) == []
    await assert_replays([handle])


async def test_lane_survives_every_bad_message(
    dev_env: WorkflowEnvironment,
    mutator_client: MutatorClient,
    execution_probe: apps.ExecutionProbe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sent while the lane runs an execution: it finishes, and the lane serves the next."""
    client = mutator_client
    state_id = f"hostile-lane-{uuid.uuid4().hex[:6]}"
    apps.execution_gate.clear()
    try:
        # An expected version sends it through the lane, which runs it and waits at the gate.
        held = asyncio.create_task(
            client.submit(
                state_id,
                "probe.add",
                {"state": state_id, "marker": "held"},
                actor="alice",
                request_id=f"{state_id}-held",
                expected_version=0,
            )
        )

        async def executing() -> None:
            assert ("held", 0) in execution_probe.calls

        await assert_eventually(executing)
        lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))
        for handler in LANE_HANDLERS:
            for args in hostile_inputs(handler).values():
                await send(lane, handler, args)
    finally:
        apps.execution_gate.set()
    await held
    first = await client.wait(f"{state_id}-held", timeout=30)
    assert first.status == RequestStatus.EXECUTED
    second = await client.submit(
        state_id,
        "probe.add",
        {"state": state_id, "marker": "after"},
        actor="alice",
        request_id=f"{state_id}-after",
        expected_version=1,
    )
    second = await client.wait(second.request_id, timeout=30)
    assert second.status == RequestStatus.EXECUTED
    assert any(d.code == "lane_acquired" for d in second.decisions)
    assert await failed_tasks(lane) == []
    await assert_replays([lane])
    assert tracebacks(caplog) == []
    ignored = [r.getMessage() for r in caplog.records if "ignored a malformed" in r.getMessage()]
    assert len(ignored) == sum(len(hostile_inputs(h)) for h in LANE_HANDLERS)


async def test_refused_signals_beyond_the_cap_are_only_counted(
    dev_env: WorkflowEnvironment, mutator_client: MutatorClient
) -> None:
    client = mutator_client
    req = await pending(client, f"flood-{uuid.uuid4().hex[:6]}")
    handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
    flood = MAX_REFUSED_ATTEMPTS_KEPT + 15
    for n in range(flood):
        await handle.signal("approve_signal", args=[{"actor": f"mallory-{n}"}])
    await answered(client.approve(req.request_id, actor="alice"))

    async def counted() -> None:
        stored = await client.get(req.request_id)
        codes = [d.code for d in stored.decisions]
        assert codes.count("refused_attempt") == MAX_REFUSED_ATTEMPTS_KEPT
        assert codes.count("refused_attempts_capped") == 1
        assert stored.refused_attempts_not_recorded == flood - MAX_REFUSED_ATTEMPTS_KEPT
        assert [a.actor for a in stored.approvals] == ["alice"]

    await assert_eventually(counted)
