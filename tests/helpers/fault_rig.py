"""Real `mutator worker` processes against the test session's dev server, to kill at will.

Fault-injection tests (marker ``fault``) start workers with ``FaultRig.start_worker``,
SIGKILL them with ``kill`` and watch the store and the handler's run markers
(``tests/helpers/fault_app.py``) from the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from mutator.client import MutatorClient
from mutator.contracts import REQUEST_WORKFLOW, request_workflow_id
from mutator.models import MutationRequest, RequestStatus, SubmitRequestInput
from mutator.store import Store
from tests.helpers.cli_stack import clean_env, mutator_command
from tests.helpers.workers import assert_eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
FAULT_APP = "tests.helpers.fault_app:app"
# The workers' heartbeat timeout here: how soon a killed worker's execution is retried.
HEARTBEAT_TIMEOUT_SECONDS = 2.0
# A new worker process is up within this (imports, connection, first polls; 2 busy cores).
WORKER_START_SECONDS = 30.0
# Recovery: a lost execution runs again within the heartbeat timeout plus this, once a
# worker is up (workflow task hand-over, the retry's dispatch; a bounded wait).
RECOVERY_SLACK_SECONDS = 10.0


def fault_cycles(default: int = 2) -> int:
    """Kill cycles per test: MUTATOR_FAULT_CYCLES for a longer run."""
    value = os.environ.get("MUTATOR_FAULT_CYCLES", "")
    return int(value) if value.strip() else default


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return f"--- {self.log.name}\n{self.log.read_text(errors='replace')}"


@dataclass
class FaultRig:
    env: WorkflowEnvironment
    workdir: Path
    task_queue: str = field(default_factory=lambda: f"fault-{uuid.uuid4().hex[:8]}")
    workers: list[WorkerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store.from_url(self.db_url)
        self.store.migrate()
        self.client = MutatorClient(self.env.client, self.store, task_queue=self.task_queue)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'faults.db'}"

    @property
    def fault_dir(self) -> Path:
        return self.workdir / "runs"

    async def start_worker(self) -> WorkerProcess:
        """A `mutator worker` process; returns once it polls its task queues."""
        worker = self._spawn_worker()
        proc, log = worker.proc, worker.log

        async def running() -> None:
            assert proc.poll() is None, worker.logs()
            text = log.read_text(errors="replace")
            assert '"running"' in text
            assert f'"heartbeat_timeout_seconds": {HEARTBEAT_TIMEOUT_SECONDS}' in text, text

        await assert_eventually(running, timeout=WORKER_START_SECONDS)
        return worker

    def _spawn_worker(self) -> WorkerProcess:
        log = self.workdir / f"worker-{len(self.workers)}.log"
        address = self.env.client.service_client.config.target_host
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [
                    *mutator_command(),
                    "worker",
                    "--app",
                    FAULT_APP,
                    "--address",
                    address,
                    "--db",
                    self.db_url,
                    "--task-queue",
                    self.task_queue,
                    "--json",
                ],
                cwd=REPO_ROOT,
                env=clean_env(
                    {
                        "MUTATOR_FAULT_DIR": str(self.fault_dir),
                        "MUTATOR_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_SECONDS),
                    }
                ),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log)
        self.workers.append(worker)
        return worker

    def kill(self, worker: WorkerProcess) -> float:
        """SIGKILL, as a crash would; returns when (monotonic) it was killed."""
        worker.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        worker.proc.wait(timeout=10)
        return killed_at

    def runs(self, marker: str) -> int:
        """How many times the handler of ``marker`` has started."""
        return len(list(self.fault_dir.glob(f"{marker}.*")))

    async def handler_running(self, marker: str, run: int, *, timeout: float) -> None:
        """Wait until run ``run`` (0: the first) of ``marker``'s handler has started."""

        async def started() -> None:
            assert self.runs(marker) > run, self.logs()

        await assert_eventually(started, timeout=timeout, interval=0.05)

    def logs(self) -> str:
        return "\n".join(w.logs() for w in self.workers)

    async def submit(self, state_id: str, marker: str, *, holds: int, hold: float) -> None:
        """Start request ``marker`` (``fault.add``) without waiting for its admission: a
        kill may cut a submitter's answer short, and that answer is not under test here."""
        await self.env.client.start_workflow(
            REQUEST_WORKFLOW,
            SubmitRequestInput(
                request_id=marker,
                state_id=state_id,
                mutation="fault.add",
                payload={"marker": marker, "holds": holds, "hold": hold},
                requester="alice",
            ),
            id=request_workflow_id(marker),
            task_queue=self.task_queue,
        )

    async def executed(self, marker: str, *, timeout: float) -> MutationRequest:
        """Wait until request ``marker`` is final (a direct execution is stored only with
        its change); fails unless it is `executed`."""

        async def final() -> MutationRequest:
            found = self.store.get_request(marker)
            assert found is not None
            assert found.status.is_terminal, found
            return found

        done = await assert_eventually(final, timeout=timeout)
        assert done.status == RequestStatus.EXECUTED, (done.status, done.error, self.logs())
        return done

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
        self.store.dispose()
