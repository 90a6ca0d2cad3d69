"""Change windows, freezes and ``not_before`` enforced at execution, on real servers.

The timers run on the time-skipping server (a freeze that ends by itself, a window that
opens days later, ``not_before``); ``freeze end`` waking a request runs on the dev server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from mutator.activities.apply_request import current_schedule
from mutator.app import MutationApp
from mutator.client import MutatorClient
from mutator.contracts import request_workflow_id
from mutator.errors import MutatorInputError
from mutator.gates import GateKind, GateStatus
from mutator.models import (
    MutationRequest,
    PendingReason,
    RejectionCode,
    RequestStatus,
    SubmitRequestInput,
    submitted_request,
)
from mutator.schedule import new_freeze
from mutator.store import Store
from mutator.workers import WORKFLOW_RUNNER
from mutator.workflows.mutation_request import MutationRequestWorkflow
from mutator.workflows.state_lane import StateLaneWorkflow
from tests.helpers import apps
from tests.helpers.workers import assert_eventually, running_mutator

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _add(state: dict[str, int], payload: dict[str, int]) -> dict[str, int]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def windowed_app(now: datetime) -> tuple[MutationApp, datetime]:
    """An app whose ``windowed.add`` runs one hour a week, on the weekday three days on.

    Three days on is never today, so the window is closed now whatever the day the test
    runs, and opens at 09:00 UTC that day: the second value.
    """
    opens_on = (now + timedelta(days=3)).date()
    app = MutationApp()
    app.window(
        "maintenance",
        rrule=f"FREQ=WEEKLY;BYDAY={WEEKDAYS[opens_on.weekday()]};BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        duration=timedelta(hours=1),
        tz="UTC",
    )
    app.mutation("windowed.add", window="maintenance")(_add)
    app.mutation("once.add", window="once")(_add)
    # A window whose only occurrence was yesterday: it never opens again.
    yesterday = (now - timedelta(days=1)).strftime("%Y%m%dT090000")
    app.window(
        "once",
        rrule=f"DTSTART:{yesterday}\nRRULE:FREQ=DAILY;COUNT=1",
        duration=timedelta(hours=1),
        tz="UTC",
    )
    return app, datetime.combine(opens_on, datetime.min.time(), UTC).replace(hour=9)


async def _settles(
    client: MutatorClient, request_id: str, status: RequestStatus
) -> MutationRequest:
    async def check() -> MutationRequest:
        found = await client.get(request_id)
        assert found.status == status
        return found

    return await assert_eventually(check)


async def server_now(env: WorkflowEnvironment) -> datetime:
    """The server's time: the time-skipping server's runs ahead of the wall clock."""
    return (await env.get_current_time()).astimezone(UTC)


def _freeze(
    store: Store,
    now: datetime,
    name: str,
    hours: float,
    *,
    mutations: str = "*",
    states: str = "*",
) -> datetime:
    until = now + timedelta(hours=hours)
    store.freezes.start(
        new_freeze(
            name=name,
            until=until,
            reason="release week",
            actor="ops",
            now=now,
            mutations=mutations,
            states=states,
        )
    )
    return until


def _waits_for_schedule(req: MutationRequest, until: datetime) -> None:
    assert (req.status, req.pending_reason) == (RequestStatus.PENDING, PendingReason.SCHEDULE)
    assert req.scheduled_for == until
    gate = next(g for g in req.gates if g.kind == GateKind.SCHEDULE)
    assert gate.status == GateStatus.WAITING
    assert gate.detail.startswith(f"until {until.isoformat()}")


def _codes(req: MutationRequest) -> list[str]:
    return [d.code for d in req.decisions]


async def test_a_window_that_opens_days_later(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    app, opens = windowed_app(await server_now(time_env))
    async with running_mutator(time_env, sqlite_store, app) as client:
        req = await client.submit("win-1", "windowed.add", {"amount": 3}, actor="alice")
        _waits_for_schedule(req, opens)
        gate = next(g for g in req.gates if g.kind == GateKind.SCHEDULE)
        assert gate.name == "window maintenance"
        assert await client.history("win-1") == []
        await time_env.sleep((opens - await server_now(time_env)).total_seconds() - 600)
        assert (await client.get(req.request_id)).status == RequestStatus.PENDING
        await time_env.sleep(1200)
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert (await client.state("win-1")).data == {"value": 3}
        assert _codes(done)[:4] == ["submitted", "approved", "pending", "schedule_open"]
        opened = next(d for d in done.decisions if d.code == "schedule_open")
        assert opened.reason == f"the schedule opened at {opens.isoformat()}"
        assert next(g for g in done.gates if g.kind == GateKind.SCHEDULE).status == (
            GateStatus.PASSED
        )
        assert done.scheduled_for is None


async def test_a_window_that_opens_next_monday(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    app = MutationApp()
    app.window(
        "monday-mornings",
        rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        duration=timedelta(hours=1),
        tz="UTC",
    )
    app.mutation("monday.add", window="monday-mornings")(_add)
    now = await server_now(time_env)
    if now.weekday() == 0 and 9 <= now.hour < 10:
        await time_env.sleep(3600)  # inside the window now: wait for it to close first
        now = await server_now(time_env)
    days = (7 - now.weekday()) % 7 or (0 if now.hour < 9 else 7)
    opens = datetime.combine((now + timedelta(days=days)).date(), datetime.min.time(), UTC)
    opens = opens.replace(hour=9)
    assert opens.weekday() == 0
    assert opens > now
    async with running_mutator(time_env, sqlite_store, app) as client:
        req = await client.submit("mon-1", "monday.add", {"amount": 6}, actor="alice")
        _waits_for_schedule(req, opens)
        await time_env.sleep((opens - await server_now(time_env)).total_seconds() + 60)
        done = await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert (await client.state("mon-1")).data == {"value": 6}
        # In the window by the server's clock (the store's own times are the worker's).
        opened = next(d for d in done.decisions if d.code == "schedule_open")
        assert opens <= opened.at < opens + timedelta(hours=1)
        turn = next(d for d in done.decisions if d.code == "executing")
        assert opens <= turn.at < opens + timedelta(hours=1)


async def test_a_window_that_never_opens_again_rejects(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    app, _ = windowed_app(await server_now(time_env))
    async with running_mutator(time_env, sqlite_store, app) as client:
        req = await client.submit("win-2", "once.add", {"amount": 1}, actor="alice")
        assert req.status == RequestStatus.REJECTED
        assert req.rejection is not None
        assert req.rejection.code == RejectionCode.SCHEDULE_CLOSED
        assert req.rejection.reason.startswith("the schedule never opens again: window once")
        assert await client.history("win-2") == []


async def test_a_freeze_that_ends_by_itself(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    until = _freeze(
        sqlite_store,
        await server_now(time_env),
        "release",
        2,
        mutations="counter.*",
        states="frz-*",
    )
    async with running_mutator(time_env, sqlite_store) as client:
        held = await client.submit("frz-1", "counter.add", {"amount": 2}, actor="alice")
        _waits_for_schedule(held, until)
        assert next(g for g in held.gates if g.kind == GateKind.SCHEDULE).name == ("freeze release")
        # Not covered: another state, another mutation.
        other = await client.submit("free-1", "counter.add", {"amount": 2}, actor="alice")
        assert other.status == RequestStatus.EXECUTED
        other = await client.submit("frz-1", "autore.add", {"amount": 1}, actor="alice")
        assert other.status == RequestStatus.EXECUTED
        await time_env.sleep(3 * 3600)
        done = await _settles(client, held.request_id, RequestStatus.EXECUTED)
        assert (await client.state("frz-1")).data == {"value": 3}
        assert "schedule_open" in _codes(done)


async def test_not_before_waits_then_executes(
    time_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    async with running_mutator(time_env, sqlite_store) as client:
        start = (await server_now(time_env) + timedelta(hours=1)).replace(microsecond=0)
        req = await client.submit(
            "nb-1", "counter.add", {"amount": 4}, actor="alice", not_before=start
        )
        assert req.not_before == start
        _waits_for_schedule(req, start)
        await time_env.sleep(2 * 3600)
        await _settles(client, req.request_id, RequestStatus.EXECUTED)
        assert (await client.state("nb-1")).data == {"value": 4}


@pytest.mark.parametrize(
    ("not_before", "message"),
    [
        (
            datetime(2027, 1, 1, 10, 0),
            "not_before: 2027-01-01T10:00:00 has no UTC offset (e.g. 2026-12-24T18:00Z)",
        ),
        ("tomorrow", "not_before: expected a datetime, got str"),
    ],
)
async def test_a_bad_not_before_is_refused_and_nothing_starts(
    dev_env: WorkflowEnvironment, sqlite_store: Store, not_before: object, message: str
) -> None:
    async with running_mutator(dev_env, sqlite_store) as client:
        with pytest.raises(MutatorInputError) as refused:
            await client.submit(
                "nb-bad",
                "counter.add",
                {"amount": 1},
                actor="alice",
                request_id="nb-bad-1",
                not_before=not_before,  # type: ignore[arg-type]
            )
        assert str(refused.value) == message
        assert sqlite_store.list_requests() == []
        with pytest.raises(Exception, match="not found"):
            await dev_env.client.get_workflow_handle(request_workflow_id("nb-bad-1")).describe()


async def test_freeze_end_wakes_the_requests_it_held_back(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    until = _freeze(sqlite_store, await server_now(dev_env), "incident", 24, states="inc-*")
    _freeze(sqlite_store, await server_now(dev_env), "audit-week", 24, states="aud-*")
    async with running_mutator(dev_env, sqlite_store) as client:
        held = await client.submit("inc-1", "counter.add", {"amount": 5}, actor="alice")
        _waits_for_schedule(held, until)
        elsewhere = await client.submit("aud-1", "counter.add", {"amount": 1}, actor="alice")
        assert elsewhere.pending_reason == PendingReason.SCHEDULE
        # Through the lane: approved after its votes, its turn finds the freeze.
        reviewed = await client.submit("inc-2", "reviewed.add", {"amount": 7}, actor="dave")
        await client.approve(reviewed.request_id, actor="alice")
        await client.approve(reviewed.request_id, actor="bob")

        async def lane_held() -> None:
            found = await client.get(reviewed.request_id)
            assert found.pending_reason == PendingReason.SCHEDULE

        await assert_eventually(lane_held)
        assert await client.history("inc-2") == []

        ended = await client.end_freeze("incident", actor="carol")
        assert ended.freeze.ended_by == "carol"
        assert sorted(ended.woken) == sorted([held.request_id, reviewed.request_id])
        done = await client.wait(held.request_id, timeout=30)
        assert done.status == RequestStatus.EXECUTED
        opened = next(d for d in done.decisions if d.code == "schedule_open")
        assert opened.reason == "freeze incident ended by carol: executes again"
        assert (await client.wait(reviewed.request_id, timeout=30)).status == (
            RequestStatus.EXECUTED
        )
        assert (await client.state("inc-2")).data == {"value": 7}
        # The other freeze still holds its request.
        still = await client.get(elsewhere.request_id)
        assert still.pending_reason == PendingReason.SCHEDULE
        await client.cancel(elsewhere.request_id, actor="alice")
        histories = [
            await dev_env.client.get_workflow_handle(request_workflow_id(i)).fetch_history()
            for i in (held.request_id, reviewed.request_id, elsewhere.request_id)
        ]
    replayer = Replayer(
        workflows=[MutationRequestWorkflow, StateLaneWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    for history in histories:
        await replayer.replay_workflow(history)


async def test_a_woken_request_still_outside_its_window_waits_again(
    dev_env: WorkflowEnvironment, sqlite_store: Store
) -> None:
    app, opens = windowed_app(await server_now(dev_env))
    _freeze(sqlite_store, await server_now(dev_env), "both", 24)
    async with running_mutator(dev_env, sqlite_store, app) as client:
        req = await client.submit("win-3", "windowed.add", {"amount": 1}, actor="alice")
        gate = next(g for g in req.gates if g.kind == GateKind.SCHEDULE)
        assert gate.name == "freeze both, window maintenance"
        # A malformed signal is ignored: the request still waits, with one pending decision.
        handle = dev_env.client.get_workflow_handle(request_workflow_id(req.request_id))
        await handle.signal("schedule_changed", {"bogus": 1})
        await handle.signal("schedule_changed", "now")
        # A query is answered after the signals before it are handled.
        found = await handle.query("status", result_type=MutationRequest)
        assert (found.pending_reason, _codes(found).count("pending")) == (
            PendingReason.SCHEDULE,
            1,
        )
        ended = await client.end_freeze("both", actor="carol")
        assert ended.woken == [req.request_id]

        async def waits_again() -> MutationRequest:
            found = await client.get(req.request_id)
            assert _codes(found).count("pending") == 2
            return found

        again = await assert_eventually(waits_again)
        _waits_for_schedule(again, opens)
        assert next(g for g in again.gates if g.kind == GateKind.SCHEDULE).name == (
            "window maintenance"
        )
        await client.cancel(req.request_id, actor="alice")
        assert (await client.get(req.request_id)).status == RequestStatus.CANCELED


def test_the_check_before_the_wait_reads_freezes_as_they_are_now(sqlite_store: Store) -> None:
    """``mutator.check_schedule``'s reading: a freeze ended since the execution is gone."""
    now = datetime.now(UTC)
    _freeze(sqlite_store, now, "brief", 24, states="chk-*")
    req = submitted_request(
        SubmitRequestInput(
            request_id="chk-r",
            state_id="chk-1",
            mutation="counter.add",
            payload={"amount": 1},
            requester="alice",
        ),
        now,
    )
    closed = current_schedule(apps.app, sqlite_store, req)
    assert (closed.open, [b.name for b in closed.blocks]) == (False, ["brief"])
    sqlite_store.freezes.end("brief", "carol", datetime.now(UTC))
    assert current_schedule(apps.app, sqlite_store, req).open
