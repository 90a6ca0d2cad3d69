"""The measured work of ``requests_throughput.py``: one item of each path, the phases of a
round (in an order that alternates every round) and the hot state."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from mutator import MutatorClient
from mutator.models import RequestStatus
from mutator.store import Store

try:  # python -m benchmarks.requests_throughput
    from benchmarks.accounting import Meter
    from benchmarks.baseline_workflow import BASELINE_SIGNAL, BaselineWorkflow
    from benchmarks.figures import ms, percentile, ratio
    from benchmarks.phases import Drain, Pooled, drain, run_concurrently, run_serially
    from benchmarks.signed_phase import Signed
except ImportError:  # python benchmarks/requests_throughput.py
    from accounting import Meter  # type: ignore[import-not-found,no-redef]
    from baseline_workflow import (  # type: ignore[import-not-found,no-redef]
        BASELINE_SIGNAL,
        BaselineWorkflow,
    )
    from figures import ms, percentile, ratio  # type: ignore[import-not-found,no-redef]
    from phases import (  # type: ignore[import-not-found,no-redef]
        Drain,
        Pooled,
        drain,
        run_concurrently,
        run_serially,
    )
    from signed_phase import Signed  # type: ignore[import-not-found,no-redef]

BENCH_MUTATION = "bench.add"
REQUESTER = "bench"
WARMUP_STATES = 4


@dataclass(frozen=True)
class Sizes:
    """How many items: per concurrent phase (``n``), in flight, per serial phase, warm-up."""

    n: int
    concurrency: int
    serial: int
    warmup: int


class Bench:
    """The two ways of doing "one signal-gated piece of work" that the phases compare."""

    def __init__(self, temporal: Client, mutator: MutatorClient, baseline_queue: str) -> None:
        self.temporal = temporal
        self.mutator = mutator
        self.baseline_queue = baseline_queue
        self.run_tag = uuid.uuid4().hex[:8]
        self.request_by_state: dict[str, str] = {}

    def key(self, phase: str, i: int) -> str:
        return f"bench-{self.run_tag}-{phase}-{i}"

    async def submit(self, state_id: str, via: MutatorClient | None = None) -> None:
        """One auto-approved request (through ``via``, e.g. a signing client); returns once
        it is executed."""
        request = await (via or self.mutator).submit(
            state_id, BENCH_MUTATION, {"amount": 1}, actor=REQUESTER, reason="benchmark"
        )
        if request.status != RequestStatus.EXECUTED:
            raise RuntimeError(
                f"request {request.request_id} on {state_id} is {request.status.value}, "
                f"expected executed: {request.rejection or request.error or request.pending_reason}"
            )
        self.request_by_state[state_id] = request.request_id

    async def baseline(self, workflow_id: str) -> None:
        """One baseline workflow by signal-with-start, awaited to completion."""
        handle = await self.temporal.start_workflow(
            BaselineWorkflow.run,
            workflow_id,
            id=workflow_id,
            task_queue=self.baseline_queue,
            start_signal=BASELINE_SIGNAL,
            start_signal_args=[1],
        )
        result = await handle.result()
        if result != 3:
            raise RuntimeError(f"baseline workflow {workflow_id} returned {result}, expected 3")


async def run_hot_state(bench: Bench, store: Store, state_id: str, count: int) -> dict[str, Any]:
    """M requests on one state at once: executions per second, ready-to-executed latency.

    "Ready" is the request's `approved` decision (policy allowed it: it joins the lane);
    "executed" is its `executed` decision. Both are the workflow's own timestamps.
    """
    submitted = [
        asyncio.create_task(
            bench.mutator.submit(state_id, BENCH_MUTATION, {"amount": 1}, actor=REQUESTER)
        )
        for _ in range(count)
    ]
    requests = await asyncio.gather(*submitted)
    ready: list[float] = []
    executed: list[float] = []
    for request in requests:
        done = await bench.mutator.wait(request.request_id, timeout=600)
        if done.status != RequestStatus.EXECUTED:
            raise RuntimeError(f"hot-state request {done.request_id} is {done.status.value}")
        at = {d.code: d.at.timestamp() for d in done.decisions}
        ready.append(at["approved"])
        executed.append(at["executed"])
    history = await asyncio.to_thread(store.history, state_id)
    if [h.version for h in history] != list(range(1, count + 1)):
        raise RuntimeError("hot-state history is not consecutive versions")
    span = max(executed) - min(ready)
    latencies = sorted(e - r for r, e in zip(ready, executed, strict=True))
    return {
        "requests": count,
        "seconds": round(span, 3),
        "executions_per_s": round(count / span, 2),
        "ready_to_executed_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p95": ms(percentile(latencies, 95)),
            "max": ms(latencies[-1]),
        },
    }


@dataclass
class Pools:
    """Every measured phase, pooled over the rounds, and what each mutator phase left."""

    mutator: Pooled = field(default_factory=Pooled)
    baseline: Pooled = field(default_factory=Pooled)
    mutator_serial: Pooled = field(default_factory=Pooled)
    baseline_serial: Pooled = field(default_factory=Pooled)
    mutator_signed: Pooled = field(default_factory=Pooled)
    drains: list[Drain] = field(default_factory=list)
    signed_drains: list[Drain] = field(default_factory=list)
    round_ratios: list[float] = field(default_factory=list)
    signed_round_ratios: list[float] = field(default_factory=list)


class Phases:
    """The measured phases of each round, on one bench, one meter and the running workers."""

    def __init__(
        self, bench: Bench, mutator_queue: str, signed: Signed | None, sizes: Sizes, meter: Meter
    ) -> None:
        self.bench = bench
        self.mutator_queue = mutator_queue
        self.signed = signed
        self.opts = sizes
        self.meter = meter
        self.pools = Pools()

    async def warm_up(self) -> None:
        """Unmeasured: imports, sandbox caches, gRPC and SQLite connections, task queues.

        Mutator warms up on a few states only: each state's lane closes 30 s after its last
        request, and that work must not land in a measured phase.
        """
        bench, count, c = self.bench, self.opts.warmup, self.opts.concurrency
        await run_concurrently(
            count, c, lambda i: bench.submit(bench.key("wm", i % WARMUP_STATES)), self.meter
        )
        await run_concurrently(count, c, lambda i: bench.baseline(bench.key("wb", i)), self.meter)
        if self.signed is not None:
            client = self.signed.client
            await run_concurrently(
                count,
                c,
                lambda i: bench.submit(bench.key("ws", i % WARMUP_STATES), client),
                self.meter,
            )

    async def round(self, r: int) -> None:
        """Every phase once, in an order that alternates every round, so that a drifting
        machine favours no side: even rounds bs, ms, b, m, s; odd rounds ms, bs, s, m, b."""
        order = [self.baseline_serial, self.mutator_serial, self.baseline, self.mutator]
        if self.signed is not None:
            order.append(self.mutator_signed)
        if r % 2:
            order = [order[1], order[0], *reversed(order[2:])]
        for step in order:
            await step(r)
        pools = self.pools
        pools.round_ratios.append(
            ratio(pools.mutator.phases[-1].rate, pools.baseline.phases[-1].rate)
        )
        if self.signed is not None:
            pools.signed_round_ratios.append(
                ratio(pools.mutator_signed.phases[-1].rate, pools.baseline.phases[-1].rate)
            )

    async def mutator(self, r: int) -> None:
        bench, opts = self.bench, self.opts
        self.pools.mutator.phases.append(
            await run_concurrently(
                opts.n, opts.concurrency, lambda i: bench.submit(bench.key(f"m{r}", i)), self.meter
            )
        )
        # The work a request leaves behind (its state's lane closing when idle) is measured
        # here, after the phase, instead of inside the next one.
        self.pools.drains.append(
            await drain(bench.temporal, self.mutator_queue, opts.n, self.meter)
        )

    async def mutator_signed(self, r: int) -> None:
        assert self.signed is not None
        bench, opts, client = self.bench, self.opts, self.signed.client
        self.pools.mutator_signed.phases.append(
            await run_concurrently(
                opts.n,
                opts.concurrency,
                lambda i: bench.submit(bench.key(f"s{r}", i), client),
                self.meter,
            )
        )
        self.pools.signed_drains.append(
            await drain(bench.temporal, self.signed.task_queue, opts.n, self.meter)
        )

    async def baseline(self, r: int) -> None:
        bench, opts = self.bench, self.opts
        self.pools.baseline.phases.append(
            await run_concurrently(
                opts.n,
                opts.concurrency,
                lambda i: bench.baseline(bench.key(f"b{r}", i)),
                self.meter,
            )
        )

    async def baseline_serial(self, r: int) -> None:
        bench, wid = self.bench, self.bench.key(f"bs{r}", 0)
        self.pools.baseline_serial.phases.append(
            await run_serially(self.opts.serial, lambda _: bench.baseline(wid), self.meter)
        )

    async def mutator_serial(self, r: int) -> None:
        bench, state_id = self.bench, self.bench.key(f"ms{r}", 0)
        self.pools.mutator_serial.phases.append(
            await run_serially(self.opts.serial, lambda _: bench.submit(state_id), self.meter)
        )
