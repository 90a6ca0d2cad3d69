"""A request's event history read as the Temporal UI shows it: steps and activity results."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from mutator.contracts import RESOLVE_VERSION_ACTIVITY, request_workflow_id


@dataclass(frozen=True)
class Step:
    """One event of interest: ``kind`` (scheduled, completed, update, signal) and its name."""

    kind: str
    name: str
    result: Any = None  # a completed activity's result, decoded from its JSON payload


async def request_events(client: Client, request_id: str) -> list[HistoryEvent]:
    """Every event of the request workflow's (only) run."""
    handle = client.get_workflow_handle(request_workflow_id(request_id))
    return [event async for event in handle.fetch_history_events()]


def steps(events: list[HistoryEvent]) -> list[Step]:
    """Activities scheduled and completed, updates accepted and signals, in history order."""
    activity_of: dict[int, str] = {}
    found: list[Step] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            activity_of[event.event_id] = name
            found.append(Step("scheduled", name))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            payloads = completed.result.payloads
            result = json.loads(payloads[0].data) if payloads else None
            found.append(Step("completed", activity_of[completed.scheduled_event_id], result))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = event.workflow_execution_update_accepted_event_attributes
            found.append(Step("update", accepted.accepted_request.input.name))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            name = event.workflow_execution_signaled_event_attributes.signal_name
            found.append(Step("signal", name))
    return found


def resolutions(events: list[HistoryEvent]) -> list[dict[str, Any]]:
    """The results of the request's version-resolution activities, in order."""
    return [
        step.result
        for step in steps(events)
        if step.kind == "completed" and step.name == RESOLVE_VERSION_ACTIVITY
    ]


def shape(events: list[HistoryEvent]) -> tuple[int, int]:
    """(events, workflow tasks completed): what one request cost the server."""
    kinds = Counter(event.event_type for event in events)
    return len(events), kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
