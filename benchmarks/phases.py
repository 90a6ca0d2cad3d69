"""Measured phases: many calls at once or one after another, and the wait for leftovers."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

try:  # python -m benchmarks.x
    from benchmarks.accounting import Meter, Usage
    from benchmarks.figures import ms, percentile
except ImportError:  # python benchmarks/x.py
    from accounting import Meter, Usage  # type: ignore[import-not-found,no-redef]
    from figures import ms, percentile  # type: ignore[import-not-found,no-redef]

DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass
class Phase:
    """One measured phase: how many, how long in total, each one's latency, what it used."""

    count: int
    concurrency: int
    seconds: float
    latencies: list[float]
    usage: Usage

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def summary(self, unit: str) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            unit: self.count,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "rate_per_s": round(self.rate, 2),
            "latency_ms": {
                "p50": ms(percentile(ordered, 50)),
                "p95": ms(percentile(ordered, 95)),
                "mean": ms(statistics.fmean(ordered)),
                "max": ms(ordered[-1]),
            },
            **self.usage.per_item(self.count),
        }


@dataclass
class Pooled:
    """The same phase over several rounds: rates from summed counts and times."""

    phases: list[Phase] = field(default_factory=list)

    def merged(self) -> Phase:
        usage = Usage()
        for p in self.phases:
            usage = usage + p.usage
        return Phase(
            count=sum(p.count for p in self.phases),
            concurrency=self.phases[0].concurrency,
            seconds=sum(p.seconds for p in self.phases),
            latencies=[lat for p in self.phases for lat in p.latencies],
            usage=usage,
        )


async def run_concurrently(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]], meter: Meter
) -> Phase:
    """Run ``one(0..count-1)`` with at most ``concurrency`` in flight; time each call."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def timed(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    before = meter.read()
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(count):
            group.create_task(timed(i))
    elapsed = time.perf_counter() - started
    return Phase(count, concurrency, elapsed, latencies, meter.read() - before)


async def run_serially(count: int, one: Callable[[int], Awaitable[None]], meter: Meter) -> Phase:
    """Run ``one(0..count-1)`` one after another; time each call."""
    latencies: list[float] = []
    before = meter.read()
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        await one(i)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return Phase(count, 1, elapsed, latencies, meter.read() - before)


@dataclass
class Drain:
    """Waiting, unmeasured in any rate, until a phase's workflows have all closed."""

    count: int
    seconds: float
    usage: Usage
    still_running: int


async def drain(temporal: Client, task_queue: str, count: int, meter: Meter) -> Drain:
    """Wait until nothing runs on ``task_queue``; what that took, per item of the phase."""
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    before = meter.read()
    started = time.perf_counter()
    running = (await temporal.count_workflows(query)).count
    while running and time.perf_counter() - started < DRAIN_TIMEOUT_SECONDS:
        await asyncio.sleep(0.5)
        running = (await temporal.count_workflows(query)).count
    return Drain(count, time.perf_counter() - started, meter.read() - before, running)


def drain_summary(drains: list[Drain], idle: Usage) -> dict[str, Any]:
    """What the phase's leftovers took, net of what idle workers and server burn anyway."""
    count = sum(d.count for d in drains)
    waited = sum(d.seconds for d in drains)
    usage = Usage()
    for d in drains:
        usage = usage + d.usage
    net = Usage(
        max(usage.python_cpu - idle.python_cpu * waited, 0.0),
        max(usage.server_cpu - idle.server_cpu * waited, 0.0),
        usage.sql_statements,
        usage.sql_write_locks,
    )
    return {
        "what": "after each mutator phase, net of idle: its workflows (state lanes) closing",
        "seconds_waited": round(waited, 1),
        "still_running": sum(d.still_running for d in drains),
        **net.per_item(count),
    }


async def idle_usage(meter: Meter, seconds: float) -> Usage:
    """Usage per second with the workers up and nothing to do."""
    before = meter.read()
    await asyncio.sleep(seconds)
    used = meter.read() - before
    return Usage(used.python_cpu / seconds, used.server_cpu / seconds)
