"""Expected outcomes are one log line at info level, not a traceback (issue 12, item 6)."""

from __future__ import annotations

import logging
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.errors import MutatorRefused
from mutator.models import RequestStatus
from mutator.store import Store
from tests.helpers.workers import running_mutator


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks from the worker (the SDK's loggers and Mutator's)."""
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and r.exc_info
        and r.name.startswith(("temporalio", "mutator"))
    ]


async def test_expected_outcomes_log_no_traceback(
    dev_env: WorkflowEnvironment, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    state_id = f"logs-{uuid.uuid4().hex[:6]}"
    caplog.set_level(logging.INFO)
    async with running_mutator(dev_env, sqlite_store) as client:
        await client.submit(state_id, "counter.add", {"amount": 2}, actor="alice")
        # A stale version (through the lane, its execution refuses it).
        stale = await client.submit(
            state_id, "counter.add", {"amount": 1}, actor="alice", expected_version=0
        )
        # A validation refusal.
        invalid = await client.submit(
            state_id, "counter.add", {"amount": -50}, actor="alice", expected_version=1
        )
        # A policy denial.
        denied = await client.submit(state_id, "denied.add", {"amount": 1}, actor="alice")
        # A refused update (not an eligible approver).
        pending = await client.submit(state_id, "reapproved.add", {"amount": 1}, actor="dave")
        with pytest.raises(MutatorRefused):
            await client.approve(pending.request_id, actor="dave")
        stale = await client.wait(stale.request_id, timeout=30)
        invalid = await client.wait(invalid.request_id, timeout=30)
    assert stale.rejection is not None
    assert stale.rejection.code.value == "stale"
    assert invalid.rejection is not None
    assert invalid.rejection.code.value == "validation_failed"
    assert denied.status == RequestStatus.REJECTED
    assert _tracebacks(caplog) == []
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(line.startswith("VersionConflict: ") for line in lines), lines


async def test_a_handler_bug_is_one_warning_line(
    dev_env: WorkflowEnvironment, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_mutator(dev_env, sqlite_store) as client:
        broken = await client.submit(
            f"logs-{uuid.uuid4().hex[:6]}", "broken.explode", {}, actor="alice"
        )
    assert broken.status == RequestStatus.FAILED
    assert _tracebacks(caplog) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    [line] = [w for w in warnings if "the handler blew up" in w]
    assert line.startswith(
        "MutationFailed: broken.explode raised RuntimeError: the handler blew up"
    )
