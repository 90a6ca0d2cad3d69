"""Commit -> output delay of watching a state (``client.watch`` and ``mutator watch``).

For each store (``--db``, repeatable; default a temporary SQLite file) and each watcher:

``client``: ``StoreReader.watch`` in this process's event loop; the clock runs from the
    moment the write transaction of a version has committed (``Store.apply``, the
    compare-and-set the execute activity runs, returning in a writer thread) to the moment
    the iterator yields that version.
``cli``: ``mutator watch STATE`` as a subprocess; the clock runs to the moment its JSON line
    for that version is read from its stdout (a reader thread of this process).

``--versions`` (100) versions are written one at a time, a random pause (``--gap-ms``, 50 to
250 ms by default, seeded) before each, so commits fall at every point of a SQLite poll's
interval. Every watcher must yield versions 1..N, in order, once each (checked). Temporal
is not involved: it adds nothing between the commit and the watcher. Prints one JSON object
on stdout:

    python -m benchmarks.watch_latency
    python -m benchmarks.watch_latency --db sqlite:////tmp/w.db --db postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mutator.models import Decision, DecisionCategory, MutationRequest, RequestStatus
from mutator.reader import StoreReader
from mutator.store import Store
from mutator.store.watch import POSTGRES_SAFETY_SECONDS, SQLITE_POLL_SECONDS

try:  # python -m benchmarks.watch_latency
    from benchmarks.figures import ms, percentile
    from benchmarks.run_context import print_result, tested_code_version
except ImportError:  # python benchmarks/watch_latency.py
    from figures import ms, percentile  # type: ignore[import-not-found,no-redef]
    from run_context import print_result, tested_code_version  # type: ignore[import-not-found,no-redef]

import mutator.reader as reader_module

# The time the CLI subprocess may take to start and print its first line.
CLI_TIMEOUT_SECONDS = 60.0


def _request(state_id: str) -> MutationRequest:
    now = datetime.now(UTC)
    return MutationRequest(
        request_id=f"bench-{uuid.uuid4()}",
        state_id=state_id,
        mutation="bench.add",
        payload={"amount": 1},
        requester="bench",
        status=RequestStatus.EXECUTED,
        revision=1,
        created_at=now,
        updated_at=now,
        decisions=[
            Decision(category=DecisionCategory.LIFECYCLE, code="executed", actor="bench", at=now)
        ],
    )


def _increment(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data.get("n", 0) + 1}


def write_versions(
    store: Store, state_id: str, n: int, gaps: list[float], committed: dict[int, float]
) -> None:
    """Write versions 1..n of the state, one at a time; ``committed[v]``: when v committed."""
    for gap in gaps[:n]:
        time.sleep(gap)
        done = store.apply(request=_request(state_id), change=_increment, expected_version=None)
        assert done.resulting_version is not None
        committed[done.resulting_version] = time.time()


def _summary(delays: list[float]) -> dict[str, float | int]:
    ordered = sorted(delays)
    return {
        "n": len(ordered),
        "p50_ms": ms(percentile(ordered, 50)),
        "p95_ms": ms(percentile(ordered, 95)),
        "max_ms": ms(ordered[-1]),
        "mean_ms": ms(sum(ordered) / len(ordered)),
    }


async def measure_client(store: Store, n: int, gaps: list[float]) -> dict[str, float | int]:
    """``StoreReader.watch`` in this loop while a thread writes the versions."""
    state_id = f"watch-bench-{uuid.uuid4()}"
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    reader = StoreReader(store)
    async with aclosing(reader.watch(state_id, from_version=0)) as versions:
        writer = asyncio.create_task(
            asyncio.to_thread(write_versions, store, state_id, n, gaps, committed)
        )
        async for entry in versions:
            seen[entry.version] = time.time()
            if entry.version == n:
                break
        await writer
    return _delays(committed, seen, n)


def measure_cli(store: Store, url: str, n: int, gaps: list[float]) -> dict[str, float | int]:
    """``mutator watch`` as a subprocess while this process writes the versions."""
    state_id = f"watch-bench-{uuid.uuid4()}"
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    # The first version starts the subprocess's output: its line proves it is watching.
    write_versions(store, state_id, 1, [0.0], committed)
    command = [sys.executable, "-m", "mutator.cli.main", "watch", state_id, "--from-version", "0"]
    proc = subprocess.Popen(
        [*command, "--db", url], stdout=subprocess.PIPE, stderr=sys.stderr, text=True
    )
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc, lines), daemon=True).start()
    try:
        _, first = lines.get(timeout=CLI_TIMEOUT_SECONDS)
        assert json.loads(first)["version"] == 1
        writer = threading.Thread(
            target=_write_from, args=(store, state_id, n, gaps, committed), daemon=True
        )
        writer.start()
        for _ in range(2, n + 1):
            at, line = lines.get(timeout=CLI_TIMEOUT_SECONDS)
            seen[json.loads(line)["version"]] = at
        writer.join()
    finally:
        proc.terminate()
        proc.wait()
    return _delays(committed, seen, n, first=2)


def _write_from(
    store: Store, state_id: str, n: int, gaps: list[float], committed: dict[int, float]
) -> None:
    write_versions(store, state_id, n - 1, gaps, committed)


def _read_lines(proc: subprocess.Popen[str], lines: queue.Queue[tuple[float, str]]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put((time.time(), line))


def _delays(
    committed: dict[int, float], seen: dict[int, float], n: int, first: int = 1
) -> dict[str, float | int]:
    expected = list(range(first, n + 1))
    assert sorted(seen) == expected, f"versions seen {sorted(seen)} != {expected}"
    return _summary([seen[v] - committed[v] for v in expected])


def _measure_store(url: str, n: int, gaps: Callable[[], list[float]]) -> dict[str, Any]:
    store = Store.from_url(url)
    try:
        store.migrate()
        return {
            "database": store.engine.dialect.name,
            "client": asyncio.run(measure_client(store, n, gaps())),
            "cli": measure_cli(store, url, n, gaps()),
        }
    finally:
        store.dispose()


def benchmark(urls: list[str], n: int, gap_ms: tuple[int, int], seed: int) -> dict[str, Any]:
    """Measure each store's watchers (a temporary SQLite file when ``urls`` is empty)."""
    rng = random.Random(seed)

    def gaps() -> list[float]:
        return [rng.uniform(*gap_ms) / 1000 for _ in range(n)]

    with tempfile.TemporaryDirectory(prefix="mutator-watch-bench-") as tmp:
        stores = urls or [f"sqlite:///{Path(tmp) / 'mutator.db'}"]
        results = [_measure_store(url, n, gaps) for url in stores]
    return {
        "benchmark": "watch_latency",
        "parameters": {
            "versions": n,
            "gap_ms": list(gap_ms),
            "seed": seed,
            "sqlite_poll_ms": ms(SQLITE_POLL_SECONDS),
            "postgres_safety_ms": ms(POSTGRES_SAFETY_SECONDS),
            "python": platform.python_version(),
            "mutator_code": tested_code_version(reader_module),
            "platform": platform.platform(),
        },
        "commit_to_output": {r["database"]: r for r in results},
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the benchmark, print its JSON."""
    parser = argparse.ArgumentParser(
        description="Commit -> output delay of client.watch and mutator watch; prints JSON."
    )
    parser.add_argument(
        "--db", action="append", default=[], help="a store URL to measure (repeatable)"
    )
    parser.add_argument("--versions", type=int, default=100, help="versions written per watcher")
    parser.add_argument(
        "--gap-ms", type=int, nargs=2, default=(50, 250), help="pause before each write: min max"
    )
    parser.add_argument("--seed", type=int, default=11, help="seed of the pauses")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.versions < 2:
        parser.error("--versions must be at least 2")
    low, high = args.gap_ms
    if not 0 <= low <= high:
        parser.error("--gap-ms needs 0 <= min <= max")
    print_result(benchmark(args.db, args.versions, (low, high), args.seed), args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
