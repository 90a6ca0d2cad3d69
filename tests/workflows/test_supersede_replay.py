"""Supersede's histories replay deterministically (``workflow.patched("supersede")``).

The newer request's ``mutator.supersede_older``, the older one's ``supersede`` update with
its ``mutator.verify_supersede`` (pending: ended at once; queued on the lane: withdrawn), and
the lane's ``withdraw`` signal. With ``MUTATOR_SAVE_HISTORIES=DIR`` the histories are also
written there as ``supersede-*.json``: the ones in ``tests/workflows/histories`` were recorded
so, and ``test_replay.py`` replays them against later code.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.contracts import request_workflow_id
from mutator.lane_contracts import lane_workflow_id
from mutator.models import RequestStatus
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers.workers import assert_eventually, running_mutator
from tests.workflows.test_supersede import HELD, _hold_lane, _status, _submit, supersede_app


async def test_supersede_histories_replay(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    tag = uuid.uuid4().hex[:6]
    pending_state, lane_state = f"rp-sup-p-{tag}", f"rp-sup-q-{tag}"
    named: dict[str, str] = {}
    async with running_mutator(dev_env, sqlite_store, supersede_app()) as client:
        older = await _submit(client, pending_state, "sup.reviewed", f"a-{tag}")
        newer = await _submit(client, pending_state, "sup.reviewed", f"b-{tag}")
        assert newer.supersedes == [older.request_id]
        await client.approve(newer.request_id, actor="alice")
        assert (await client.wait(newer.request_id, timeout=30)).status == RequestStatus.EXECUTED
        named["supersede-pending-older"] = request_workflow_id(older.request_id)
        named["supersede-pending-newer"] = request_workflow_id(newer.request_id)

        holder, queued, superseding = f"h-{tag}", f"c-{tag}", f"d-{tag}"
        holding = await _hold_lane(client, lane_state, holder)
        waiting = asyncio.ensure_future(_submit(client, lane_state, "sup.auto", queued))

        async def is_queued() -> None:
            assert await _status(sqlite_store, queued) == RequestStatus.APPROVED
            locks = {lock.state_id: lock for lock in await client.locks()}
            assert lane_state in locks
            assert queued in locks[lane_state].queued_request_ids

        await assert_eventually(is_queued, timeout=30)
        ending = asyncio.ensure_future(_submit(client, lane_state, "sup.auto", superseding))
        assert (await client.wait(queued, timeout=30)).status == RequestStatus.SUPERSEDED
        HELD[holder].set()
        await asyncio.gather(holding, waiting, ending)
        assert (await client.wait(superseding, timeout=30)).supersedes == [queued]
        named["supersede-lane-withdrawn-older"] = request_workflow_id(queued)
        named["supersede-lane-newer"] = request_workflow_id(superseding)
        named["supersede-lane-withdraw"] = lane_workflow_id(lane_state)
        histories: dict[str, WorkflowHistory] = {}
        for name, workflow_id in named.items():
            histories[name] = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    for history in histories.values():
        await replayer.replay_workflow(history)
    events = json.dumps(histories["supersede-lane-withdraw"].to_json_dict())
    assert '"withdraw"' in events
    save_to = os.environ.get("MUTATOR_SAVE_HISTORIES")
    if save_to:
        for name, history in histories.items():
            (Path(save_to) / f"{name}.json").write_text(history.to_json())
