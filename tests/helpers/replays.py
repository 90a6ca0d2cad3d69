"""Replaying real histories with the worker's own runner and converter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from mutator.message_payloads import lenient
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow


async def assert_replays(handles: list[WorkflowHandle[Any, Any]]) -> None:
    """Their histories, hostile messages included, replay deterministically on the worker's
    runner and converter."""

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for handle in handles:
            yield await handle.fetch_history()

    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=lenient(pydantic_data_converter),
        workflow_runner=WORKFLOW_RUNNER,
    )
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {run: str(failure) for run, failure in results.replay_failures.items() if failure}
    assert failures == {}
