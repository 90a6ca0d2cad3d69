"""`mutator dev` and `mutator worker`: the long-running commands."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

from mutator.cli.output import console, print_json
from mutator.errors import MutatorUnavailable
from mutator.lane_contracts import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
from mutator.limits import DEFAULT_MAX_CONCURRENT_MUTATIONS
from mutator.loader import EXAMPLE_APP, load_app
from mutator.notifications import WebhookConfig, redact_url
from mutator.settings import DEFAULT_DATABASE_URL, DEFAULT_UI_URL
from mutator.store import Store
from mutator.temporal import SEARCH_ATTRIBUTES, binary_path, connect_temporal
from mutator.temporal_tls import TemporalTLS
from mutator.workers import run_worker

SERVER_START_TIMEOUT_SECONDS = 60.0


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_dev_server(port: int, ui_port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """Start a Temporal dev server with Mutator's search attributes.

    Args:
        port: Its gRPC port.
        ui_port: Its web UI's port.
        data_dir: Where it keeps its history (``temporal.db``) and log.

    Returns:
        The server's process, in a session of its own.

    Raises:
        MutatorUnavailable: A port is in use, or the ``temporal`` binary is missing.
    """
    for which, value in (("--port", port), ("--ui-port", ui_port)):
        if _port_in_use(value):
            raise MutatorUnavailable(
                f"{which} {value} is already in use (another `mutator dev` or Temporal server?); "
                f"stop it or choose another {which}"
            )
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        binary_path("temporal"),
        "server",
        "start-dev",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
    ]
    for name in SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{name}=Keyword"]
    # Its own session, so Ctrl-C reaches it only through us and we stop it in order.
    with (data_dir / "temporal.log").open("ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _die_with_parent() -> None:
    """In the server's process: SIGTERM when `mutator dev` dies without stopping it (kill -9)."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc``'s process group: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _wait_for_server(address: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SERVER_START_TIMEOUT_SECONDS
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise MutatorUnavailable(f"the Temporal dev server exited at start; its log:\n{tail}")
        try:
            await connect_temporal(address, "default", timeout=2)
            return
        except MutatorUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM cancel the running command, so `finally` blocks stop what it started.

    Set explicitly: a command started in the background inherits an ignored SIGINT.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)


async def run_dev(
    *,
    port: int,
    ui_port: int,
    app_spec: str,
    directory_file: str | None = None,
    db: str,
    data_dir: str,
    task_queue: str,
    as_json: bool = False,
    webhook: WebhookConfig | None = None,
) -> None:
    """`mutator dev`: a Temporal dev server, the schema and a worker, until Ctrl-C.

    Raises:
        MutatorUnavailable: The server or the worker could not start.
        MutatorInputError: ``app_spec`` does not name a ``MutationApp``, or the directory
            (``directory_file``, replacing the app's own) is bad.
    """
    stop_on_signals()
    app = load_app(app_spec, directory_file)
    store = Store.from_url(db)
    try:
        await asyncio.to_thread(store.migrate)
        directory = Path(data_dir)
        address = f"127.0.0.1:{port}"
        proc = start_dev_server(port, ui_port, directory)
        try:
            await _wait_for_server(address, proc, directory / "temporal.log")
            ready = asyncio.Event()
            worker = asyncio.create_task(
                run_worker(
                    app=app,
                    store=store,
                    address=address,
                    namespace="default",
                    task_queue=task_queue,
                    ready=ready,
                    webhook=webhook,
                )
            )
            await _until_ready(worker, ready)
            ui_url = f"http://localhost:{ui_port}"
            if as_json:
                print_json(
                    {
                        "status": "running",
                        "temporal_address": address,
                        "ui_url": ui_url,
                        "database": store.url,
                        "app": app_spec,
                        "task_queue": task_queue,
                        "webhook_url": _webhook_url(webhook),
                    }
                )
            else:
                _print_banner(address, ui_url, app_spec, store.url, db)
            await worker
        finally:
            stop_process(proc)
    finally:
        store.dispose()


async def _until_ready(worker: asyncio.Task[None], ready: asyncio.Event) -> None:
    """Return once the worker polls; raise what stopped it if it ended first."""
    ready_wait = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({worker, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        worker.cancel()
        with contextlib.suppress(BaseException):
            await worker
        raise
    finally:
        ready_wait.cancel()
    if worker.done():
        worker.result()


def _print_banner(address: str, ui_url: str, app_spec: str, db_url: str, db: str) -> None:
    console.print(f"[bold green]Mutator dev is running[/] (app {app_spec})")
    console.print(f"  Temporal Web UI   {ui_url}")
    console.print(f"  Temporal server   {address}")
    console.print(f"  store             {db_url}")
    console.print("Try, in another terminal:", highlight=False)
    exports = []
    if address != "127.0.0.1:7233":
        exports.append(f"TEMPORAL_ADDRESS={address}")
    if db != DEFAULT_DATABASE_URL:
        exports.append(f"MUTATOR_DATABASE_URL={shlex.quote(db)}")
    if ui_url != DEFAULT_UI_URL:
        exports.append(f"MUTATOR_UI_URL={ui_url}")  # for the links `mutator show` prints
    examples = [
        "mutator submit acct-1 counter.add --payload '{\"amount\": 5}' --actor alice",
        'mutator submit acct-1 limits.set --payload \'{"name": "daily", "value": 500}\' '
        "--actor dave --request-id lim-1",
        "mutator approve lim-1 --actor alice",
        "mutator approve lim-1 --actor bob",
        "mutator submit acct-1 counter.add --payload '{\"amount\": 5000}' --actor alice",
        'mutator submit app-1 release.deploy --payload \'{"version": "1.4.2"}\' '
        "--actor alice --request-id rel-1",
        'mutator check rel-1 ci --pass --details "build 812" --actor ci-bot',
        "mutator check rel-1 lint --pass --actor ci-bot",
        'mutator submit web release.set --payload \'{"version": "1.4"}\' '
        "--actor dave --request-id rel-14",
        'mutator submit web release.set --payload \'{"version": "1.5"}\' '
        "--actor dave --request-id rel-15",
        "mutator approve rel-15 --actor alice",
        "mutator freeze start release-day --until +2h --mutations 'counter.*' "
        '--reason "release day" --actor alice',
        "mutator submit acct-2 counter.add --payload '{\"amount\": 1}' --actor bob "
        "--request-id frz-1",
        "mutator freeze end release-day --actor alice",
        "mutator show lim-1",
        "mutator state acct-1",
        "mutator history acct-1",
        "mutator audit --state acct-1",
    ]
    if app_spec != EXAMPLE_APP:
        # The example app's commands mean nothing for another app.
        examples = [
            "mutator submit STATE_ID MUTATION --payload '{...}' --actor NAME",
            "mutator list --status pending",
            "mutator show REQUEST_ID",
            "mutator approve REQUEST_ID --actor NAME",
            "mutator state STATE_ID",
            "mutator audit --state STATE_ID",
        ]
    if exports:
        examples.insert(0, "export " + " ".join(exports))
    for example in examples:
        console.print(f"  {example}", highlight=False, markup=False, soft_wrap=True)
    console.print("Ctrl-C stops the server and the worker.")


async def run_worker_forever(
    *,
    app_spec: str,
    directory_file: str | None = None,
    address: str,
    namespace: str,
    db: str,
    task_queue: str,
    max_concurrent_mutations: int = DEFAULT_MAX_CONCURRENT_MUTATIONS,
    metrics_port: int | None = None,
    heartbeat_timeout_seconds: float | None = None,
    as_json: bool = False,
    tls: TemporalTLS | bool = False,
    api_key: str | None = None,
    webhook: WebhookConfig | None = None,
) -> None:
    """`mutator worker`: run a worker for ``app_spec`` until Ctrl-C or SIGTERM.

    Raises:
        MutatorUnavailable: Temporal or the database cannot be reached.
        MutatorInputError: ``app_spec`` does not name a ``MutationApp``, or the directory
            (``directory_file``, replacing the app's own) is bad.
    """
    stop_on_signals()
    slots = max_concurrent_mutations  # validated by the command (and again by build_workers)
    app = load_app(app_spec, directory_file)
    store = Store.from_url(db)
    try:
        ready = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                app=app,
                store=store,
                address=address,
                namespace=namespace,
                task_queue=task_queue,
                max_concurrent_mutations=slots,
                metrics_port=metrics_port,
                heartbeat_timeout_seconds=heartbeat_timeout_seconds,
                ready=ready,
                tls=tls,
                api_key=api_key,
                webhook=webhook,
            )
        )
        await _until_ready(worker, ready)
        secured = _secured(tls, api_key)
        if as_json:
            print_json(
                {
                    "status": "running",
                    "temporal_address": address,
                    "namespace": namespace,
                    "database": store.url,
                    "app": app_spec,
                    "task_queue": task_queue,
                    "max_concurrent_mutations": slots,
                    "metrics_port": metrics_port,
                    "heartbeat_timeout_seconds": heartbeat_timeout_seconds
                    or DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
                    "temporal_tls": secured,
                    "temporal_api_key": api_key is not None,
                    "webhook_url": _webhook_url(webhook),
                }
            )
        else:
            console.print(
                f"[bold green]worker running[/] app {app_spec} on task queue {task_queue!r}, "
                f"at most {slots} mutations at once "
                f"({address} {secured}, namespace {namespace!r}); Ctrl-C stops it",
                highlight=False,
                soft_wrap=True,
            )
        await worker
    finally:
        store.dispose()


def _secured(tls: TemporalTLS | bool, api_key: str | None) -> str:
    """How the worker reaches Temporal: ``mutual TLS``, ``TLS`` or ``plain``."""
    if isinstance(tls, TemporalTLS) and tls.cert is not None:
        return "mutual TLS"
    return "TLS" if tls or api_key is not None else "plain"


def _webhook_url(webhook: WebhookConfig | None) -> str | None:
    """Where the worker sends its events (a password in the URL hidden), or None."""
    return redact_url(webhook.url) if webhook is not None else None
