"""The worker process: its two Temporal workers, the sandbox runner, and `run_worker`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mutator.activities import (
    DependencyActivities,
    LaneActivities,
    LaneSettings,
    RequestActivities,
    SimulationActivities,
    SupersedeActivities,
    VersionResolutionActivities,
)
from mutator.activities.compensation import CompensationActivities
from mutator.activities.effects import EffectActivities
from mutator.activities.signatures import identity_config
from mutator.activities.webhooks import WebhookActivities
from mutator.app import MutationApp
from mutator.contracts import DEPENDENCY_QUEUE_SUFFIX, EXECUTION_QUEUE_SUFFIX
from mutator.errors import MutatorUnavailable
from mutator.execution_timeouts import ExecutionTimeouts, ExecutionTimeoutsInterceptor
from mutator.identity import registry
from mutator.identity.registry import IdentityConfig
from mutator.identity.startup import startup_warnings
from mutator.limits import (
    DEFAULT_MAX_CONCURRENT_MUTATIONS,
    validate_heartbeat_timeout,
    validate_max_concurrent_mutations,
)
from mutator.message_payloads import lenient
from mutator.metrics import prometheus_runtime
from mutator.notifications import WEBHOOK_QUEUE_SUFFIX, WebhookConfig
from mutator.store import Store
from mutator.temporal import connect_with_retry, ensure_search_attributes
from mutator.temporal_tls import TemporalTLS
from mutator.workflows.effects_delivery import EffectsDeliveryWorkflow
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.simulate import SimulateWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from mutator.workflows.webhook_delivery import WebhookDeliveryWorkflow

LOGGER = logging.getLogger("mutator.worker")

# How long a starting worker waits for Temporal (MUTATOR_CONNECT_WAIT_SECONDS).
# Dependency waits at once per worker process: each is an async activity that holds a slot
# while its dependency runs, and costs a coroutine and a long poll, not a thread.
MAX_DEPENDENCY_WAITS = 1000

WORKER_CONNECT_WAIT_SECONDS = float(os.environ.get("MUTATOR_CONNECT_WAIT_SECONDS", "30"))


@dataclass
class MutatorWorkers:
    """The workers of one Mutator worker process.

    ``main`` runs the workflows and the light activities; ``execution`` runs only the
    mutation-execution activity on ``<task queue>-execute`` with MaxConcurrentMutations slots;
    ``dependencies`` runs the waits for dependencies (``submit --after``) on
    ``<task queue>-dependencies``, each holding one of its many slots for as long as it waits;
    ``webhooks`` (only with a webhook) delivers events on ``<task queue>-webhooks``.
    """

    main: Worker
    execution: Worker
    identity: IdentityConfig | None = None
    dependencies: Worker | None = None
    webhooks: Worker | None = None

    @property
    def task_queue(self) -> str:
        """The main worker's task queue."""
        return self.main.task_queue

    async def __aenter__(self) -> MutatorWorkers:
        """Start the workers: the execution worker (and the dependencies'), then the main one."""
        await self._stack.__aenter__()
        await self._stack.enter_async_context(self.execution)
        if self.dependencies is not None:
            await self._stack.enter_async_context(self.dependencies)
        if self.webhooks is not None:
            await self._stack.enter_async_context(self.webhooks)
        await self._stack.enter_async_context(self.main)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the workers: the main one, then the others.

        Then forget their identity settings, unless another worker of the task queue
        registered its own since.
        """
        await self._stack.__aexit__(None, None, None)
        if self.identity is not None and registry.lookup(self.task_queue) is self.identity:
            registry.unregister(self.task_queue)

    def __post_init__(self) -> None:
        """Prepare the stack the workers run in."""
        self._stack = contextlib.AsyncExitStack()


def build_workers(
    client: Client,
    *,
    app: MutationApp,
    store: Store,
    task_queue: str,
    max_concurrent_mutations: int = DEFAULT_MAX_CONCURRENT_MUTATIONS,
    lane_settings: LaneSettings | None = None,
    webhook: WebhookConfig | None = None,
) -> MutatorWorkers:
    """The main and execution workers of one Mutator worker process, not yet running.

    Registers the app's identity settings for ``task_queue`` in this process: the request
    workflow's update validators check signatures against them (``mutator.identity``).

    Args:
        client: The Temporal client (its data converter is made lenient for messages).
        app: The mutations and policies to run.
        store: The store the activities write to.
        task_queue: The main task queue; executions use ``<task_queue>-execute``.
        max_concurrent_mutations: How many handlers may run at once.
        lane_settings: Lease and timeout settings; the defaults by default.
        webhook: Where to send the requests' events (``mutator.notifications``); None: no
            events, and nothing is spent on them.

    Returns:
        The workers; ``async with`` runs them.

    Raises:
        MutatorInputError: ``max_concurrent_mutations`` is not an integer >= 1.
    """
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
        webhooks=webhook is not None,
    )
    webhook_activities = WebhookActivities(webhook, store)
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=[
            MutationRequestWorkflow,
            StateLaneWorkflow,
            WebhookDeliveryWorkflow,
            EffectsDeliveryWorkflow,
            SimulateWorkflow,
        ],
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
        activities=[
            *request_activities.all(),
            *VersionResolutionActivities(store).all(),
            *lane_activities.all(),
            webhook_activities.configured,
            *EffectActivities(app, store, webhooks=webhook is not None).all(),
            *SupersedeActivities(app, store).all(),
            *SimulationActivities(app, store).all(),
            *CompensationActivities(app, store).all(),
        ],
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
    dependencies = Worker(
        client,
        task_queue=task_queue + DEPENDENCY_QUEUE_SUFFIX,
        activities=DependencyActivities(store).all(),
        max_concurrent_activities=MAX_DEPENDENCY_WAITS,
    )
    identity = identity_config(app)
    registry.register(task_queue, identity)
    return MutatorWorkers(
        main=main,
        execution=execution,
        identity=identity,
        dependencies=dependencies,
        webhooks=_webhook_worker(client, task_queue, webhook, webhook_activities),
    )


def _webhook_worker(
    client: Client, task_queue: str, webhook: WebhookConfig | None, activities: WebhookActivities
) -> Worker | None:
    """The deliveries' worker on ``<task queue>-webhooks``; None without a webhook."""
    if webhook is None:
        return None
    return Worker(
        client,
        task_queue=task_queue + WEBHOOK_QUEUE_SUFFIX,
        activities=[activities.deliver],
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=webhook.max_concurrent),
        max_concurrent_activities=webhook.max_concurrent,
    )


def _lane_settings(heartbeat_timeout_seconds: float | None) -> LaneSettings | None:
    if heartbeat_timeout_seconds is None:
        return None
    return LaneSettings(
        heartbeat_timeout_seconds=validate_heartbeat_timeout(heartbeat_timeout_seconds)
    )


# The sandbox would import the workflow modules afresh for every workflow run (the largest
# part of a short request's worker CPU), so they are imported once per worker. The sandbox
# then no longer catches a clock, I/O or randomness in them: they must stay deterministic
# by review, and tests/workflows/test_replay.py replays every path with this runner.
# The whole package passes: passing only mutator.workflows would make the sandbox re-run
# mutator/__init__.py (their parent) for every workflow run. A user's app is not imported
# by these workflows, so it stays out of this.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("mutator")
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
    tls: TemporalTLS | bool = False,
    api_key: str | None = None,
    webhook: WebhookConfig | None = None,
) -> None:
    """Run a Mutator worker until cancelled.

    Logs what the app's identity mode means first (``claimed``: a warning, louder with a
    store that is not SQLite; ``signed``: users who may vote without a key). Checks the
    schema, registers the app's mutations in the store, connects (waiting up to
    ``connect_wait_seconds`` for Temporal), registers the search attributes and runs the
    workers.

    Args:
        app: The mutations and policies to run.
        store: The store.
        address: The Temporal frontend.
        namespace: The Temporal namespace.
        task_queue: The task queue.
        max_concurrent_mutations: How many handlers may run at once.
        ready: Set once the workers poll.
        connect_wait_seconds: How long to wait for Temporal to come up.
        metrics_port: Serve Prometheus metrics on this port.
        heartbeat_timeout_seconds: How soon a dead worker's executions move on.
        tls: TLS to Temporal: ``True`` (system CAs) or a `TemporalTLS` (mutual TLS).
        api_key: A Temporal API key; it turns TLS on.
        webhook: Where to send the requests' events (``mutator.notifications``).

    Raises:
        MutatorInputError: A TLS file is missing or wrong (checked before connecting), or a
            mutation names a window the app does not declare.
        MutatorUnavailable: The store or Temporal cannot be reached, or the metrics port is
            taken.
    """
    app.check_windows()
    for warning in startup_warnings(app, store.url):
        LOGGER.warning(warning)
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
        address,
        namespace,
        wait_seconds=connect_wait_seconds,
        runtime=runtime,
        tls=tls,
        api_key=api_key,
    )
    await ensure_search_attributes(client, namespace)
    workers = build_workers(
        client,
        app=app,
        store=store,
        task_queue=task_queue,
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=_lane_settings(heartbeat_timeout_seconds),
        webhook=webhook,
    )
    async with workers:
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
