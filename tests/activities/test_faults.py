"""Fault injection: real worker processes SIGKILLed mid-handler, a dev server killed with
requests pending. No request may end `failed` for it, nothing may apply twice.

The default (CI) run is short; MUTATOR_FAULT_CYCLES=N runs N kill cycles per path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.lane_contracts import LaneStatus, lane_workflow_id
from mutator.models import MutationRequest
from tests.helpers.cli_stack import CliResult, CliStack
from tests.helpers.fault_rig import (
    HEARTBEAT_TIMEOUT_SECONDS,
    RECOVERY_SLACK_SECONDS,
    FaultRig,
    fault_cycles,
)
from tests.helpers.workers import assert_eventually

pytestmark = [pytest.mark.fault, pytest.mark.slow]

RECOVERY = HEARTBEAT_TIMEOUT_SECONDS + RECOVERY_SLACK_SECONDS
HOLD_SECONDS = 120.0  # a held handler outlasts any test: it only ends by a kill


@pytest.fixture
async def rig(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[FaultRig]:
    made = FaultRig(dev_env, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _token(req: MutationRequest) -> int:
    held = [
        d
        for d in req.decisions
        if d.code == "lane_acquired" or (d.code == "executing" and "fencing token" in d.reason)
    ]
    return int(held[-1].reason.split()[-1])


async def _assert_applied_once_each(
    rig: FaultRig, state_id: str, markers: list[str]
) -> list[MutationRequest]:
    done = [await rig.executed(m, timeout=RECOVERY) for m in markers]
    history = await rig.client.history(state_id)
    assert [h.version for h in history] == list(range(1, len(markers) + 1))
    assert sorted(h.request_id for h in history) == sorted(markers)
    state = await rig.client.state(state_id)
    assert sorted(state.data["applied"]) == sorted(markers)  # each change applied once
    assert [h.request_id for h in history] == state.data["applied"]
    return done


async def test_worker_killed_mid_direct_execution_never_fails_it(rig: FaultRig) -> None:
    """Killed inside one direct execution again and again (the case that ended requests
    `failed`): each retry re-claims the state under a new token and, in the end, applies."""
    cycles = fault_cycles()
    state_id = f"direct-{uuid.uuid4().hex[:6]}"
    worker = await rig.start_worker()
    await rig.submit(state_id, "d0", holds=cycles, hold=HOLD_SECONDS)
    tokens: list[int] = []
    for run in range(cycles):
        await rig.handler_running("d0", run, timeout=RECOVERY)
        [claim] = rig.store.claims(state_id)
        assert (claim.owner, claim.kind) == ("mutation-request:d0", "direct")
        assert claim.token is not None
        tokens.append(claim.token)
        rig.kill(worker)
        worker = await rig.start_worker()
    # Every retry held the state under a newer token: an attempt given up on is fenced out.
    assert tokens == sorted(set(tokens)), tokens
    [done] = await _assert_applied_once_each(rig, state_id, ["d0"])
    assert _token(done) > tokens[-1]
    assert rig.runs("d0") == cycles + 1
    assert rig.store.claims(state_id) == []


async def test_worker_killed_mid_lane_executions_never_fails_them(
    rig: FaultRig, dev_env: WorkflowEnvironment
) -> None:
    """Several requests queued on one state; each handler is killed on its first run. The
    running one keeps the head of the lane and reruns under a new token; the rest follow."""
    cycles = fault_cycles()
    state_id = f"lane-{uuid.uuid4().hex[:6]}"
    queued = [f"l{i}" for i in range(1, cycles + 1)]
    worker = await rig.start_worker()
    # The first executes directly (the state is free); it holds, and the others queue.
    await rig.submit(state_id, "l0", holds=1, hold=HOLD_SECONDS)
    await rig.handler_running("l0", 0, timeout=RECOVERY)
    for marker in queued:
        await rig.submit(state_id, marker, holds=1, hold=HOLD_SECONDS)

    async def all_queued() -> None:
        lanes = {c.owner for c in rig.store.claims(state_id) if c.kind == "lane"}
        assert lanes == {f"mutation-request:{m}" for m in queued}

    await assert_eventually(all_queued, timeout=RECOVERY)
    rig.kill(worker)
    worker = await rig.start_worker()
    await rig.executed("l0", timeout=RECOVERY)
    lane = dev_env.client.get_workflow_handle(lane_workflow_id(state_id))
    first_tokens: dict[str, int] = {}
    for _ in queued:
        # Whichever queued request the lane runs now is held in its handler: kill there.
        async def one_held() -> str:
            held = [m for m in queued if rig.runs(m) == 1 and m not in first_tokens]
            assert len(held) == 1, (held, rig.logs())
            return held[0]

        marker = await assert_eventually(one_held, timeout=RECOVERY)
        status = await lane.query("status", result_type=LaneStatus)
        assert status.holder is not None
        assert status.holder.request_id == marker
        first_tokens[marker] = status.holder.token
        rig.kill(worker)
        worker = await rig.start_worker()
        started = time.monotonic()
        done = await rig.executed(marker, timeout=RECOVERY)
        assert time.monotonic() - started < RECOVERY
        # It kept its turn and ran again under a new token.
        assert _token(done) > first_tokens[marker]
    await _assert_applied_once_each(rig, state_id, ["l0", *queued])
    status = await lane.query("status", result_type=LaneStatus)
    assert status.expirations == 0  # no lease expired: a crash is not the request's fault


def _ok(result: CliResult) -> Any:
    assert result.code == 0, result
    return result.json()


def test_dev_server_killed_with_requests_pending(tmp_path: Path) -> None:
    """`mutator dev` (Temporal server and worker) SIGKILLed with requests pending: after a
    restart on the same data dir they still take votes and execute."""
    first = CliStack(tmp_path)
    first.start()
    pending = [f"lim-{uuid.uuid4().hex[:6]}-{i}" for i in range(cycles_for_restart())]
    states = [f"acct-{uuid.uuid4().hex[:6]}-{i}" for i in range(len(pending))]
    try:
        for state_id, request_id in zip(states, pending, strict=True):
            _ok(
                first.run(
                    "submit",
                    state_id,
                    "limits.set",
                    "--payload",
                    '{"name": "daily", "value": 7}',
                    "--actor",
                    "carol",
                    "--request-id",
                    request_id,
                    "--json",
                )
            )
        _ok(first.run("approve", pending[0], "--actor", "alice", "--json"))
    finally:
        first.kill()  # SIGKILL, both the worker process and its Temporal server
    second = CliStack(tmp_path, port=first.port, ui_port=first.ui_port)
    second.start()
    try:
        shown = _ok(second.run("show", pending[0], "--json"))
        assert shown["status"] == "pending"
        assert [a["actor"] for a in shown["approvals"]] == ["alice"]
        _ok(second.run("approve", pending[0], "--actor", "bob", "--json"))
        for request_id in pending[1:]:
            _ok(second.run("approve", request_id, "--actor", "alice", "--json"))
            _ok(second.run("approve", request_id, "--actor", "bob", "--json"))
        for state_id, request_id in zip(states, pending, strict=True):
            done = _ok(second.run("wait", request_id, "--timeout", "30", "--json"))
            assert (done["status"], done["resulting_version"]) == ("executed", 1), done
            history = _ok(second.run("history", state_id, "--json"))
            assert [(h["version"], h["request_id"]) for h in history] == [(1, request_id)]
    finally:
        code = second.stop() if second.proc is not None else None
    assert code == 0, second.logs()


def cycles_for_restart() -> int:
    return max(2, fault_cycles())
