"""Prometheus metrics from a worker process, scraped after real requests."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid

from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.metrics import prometheus_runtime
from mutator.store import Store
from mutator.temporal import connect_temporal
from mutator.workers import build_workers
from tests.helpers import apps
from tests.helpers.cli_stack import free_port
from tests.helpers.workers import assert_eventually


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def _value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_worker_serves_sdk_and_mutator_metrics(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    port = free_port()
    address = dev_env.client.service_client.config.target_host
    client = await connect_temporal(
        address, "default", runtime=prometheus_runtime(port, "127.0.0.1")
    )
    sqlite_store.register_mutations({n: m.on_stale for n, m in apps.app.mutations.items()})
    workers = build_workers(
        client, app=apps.app, store=sqlite_store, task_queue=f"tq-{uuid.uuid4()}"
    )
    mutator = MutatorClient(dev_env.client, sqlite_store, task_queue=workers.task_queue)
    state = f"metrics-{uuid.uuid4().hex[:6]}"
    async with workers:
        await mutator.submit(state, "counter.add", {"amount": 1}, actor="alice")
        await mutator.submit(state, "counter.add", {"amount": 5000}, actor="alice")
        stale = await mutator.submit(state, "reviewed.add", {"amount": 1}, actor="dave")
        await mutator.submit(state, "counter.add", {"amount": 1}, actor="alice")
        await mutator.approve(stale.request_id, actor="alice")
        await mutator.approve(stale.request_id, actor="bob")
        await mutator.wait(stale.request_id, timeout=30)

        async def scraped() -> str:
            text = await asyncio.to_thread(_scrape, port)
            assert _value(text, "mutator_requests", status="executed", mutation="counter.add") == 2
            assert _value(text, "mutator_requests", status="rejected", mutation="counter.add") == 1
            assert _value(text, "mutator_requests", status="pending", mutation="reviewed.add") == 1
            assert (
                _value(
                    text, "mutator_stale_resolutions", mutation="reviewed.add", strategy="reject"
                )
                == 1
            )
            assert _value(text, "mutator_approval_wait_seconds_count", mutation="reviewed.add") == 1
            assert (
                _value(
                    text,
                    "mutator_execution_seconds_count",
                    mutation="counter.add",
                    outcome="applied",
                )
                == 2
            )
            return text

        text = await assert_eventually(scraped)
    # The SDK's own runtime metrics come from the same endpoint.
    assert "temporal_workflow_completed" in text
    assert "temporal_activity_execution_latency" in text
