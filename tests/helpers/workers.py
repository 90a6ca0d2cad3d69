"""Workers and clients on a fresh task queue, and the retry the integration tests poll with."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from mutator.activities import LaneSettings
from mutator.app import MutationApp
from mutator.client import MutatorClient
from mutator.identity.audit import SignatureAudit
from mutator.notifications import WebhookConfig
from mutator.store import Store
from mutator.workers import MutatorWorkers, build_workers
from tests.helpers import apps

T = TypeVar("T")


def new_worker(
    client: Client,
    store: Store,
    *,
    app: MutationApp = apps.app,
    task_queue: str | None = None,
    max_concurrent_mutations: int = 10,
    lane_settings: LaneSettings | None = None,
    webhook: WebhookConfig | None = None,
) -> MutatorWorkers:
    return build_workers(
        client,
        app=app,
        store=store,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=lane_settings,
        webhook=webhook,
    )


@asynccontextmanager
async def running_mutator(
    env: WorkflowEnvironment,
    store: Store,
    app: MutationApp = apps.app,
    *,
    max_concurrent_mutations: int = 10,
    lane_settings: LaneSettings | None = None,
    verify_record: bool = True,
    webhook: WebhookConfig | None = None,
) -> AsyncIterator[MutatorClient]:
    """A worker on a fresh task queue and a client that submits to it.

    When the block ends without an error, the store's tamper-evident record must verify:
    every request the test ran through the real server and worker chained its rows right,
    and every signature it stored holds against the app's directory (in ``signed`` mode,
    every person's decision that counted is signed).
    """
    store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
    worker = new_worker(
        env.client,
        store,
        app=app,
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=lane_settings,
        webhook=webhook,
    )
    async with worker:
        yield MutatorClient(
            env.client,
            store,
            task_queue=worker.task_queue,
            search_attributes=not env.supports_time_skipping_v1,
        )
    if verify_record:
        signatures = SignatureAudit(app.identities, required=app.identity == "signed")
        report = await asyncio.to_thread(store.verify_record, signatures=signatures)
        assert report.ok, f"the record does not verify: {report.problems}"


async def assert_eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.1
) -> T:
    """Retry ``check`` until it stops raising AssertionError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(interval)
