"""A single request's change applied with its write.

This is a worker thread's part of the execution, whether direct or on the state's lane.
Under the claim or lane turn it checks the schedule, then (in the write's transaction)
the mutation's quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity

from mutator import metrics
from mutator.activities.batch_items import MAX_CAS_ATTEMPTS
from mutator.activities.compensation import ending_original
from mutator.activities.heartbeat import Stopwatch
from mutator.activities.outcomes import (
    HandlerFailed,
    StateData,
    change_for,
    expected,
    users_bug,
)
from mutator.activities.planning import recording_diffs
from mutator.activities.undo import compensation_change
from mutator.app import MutationApp, UnknownMutationError, ValidationRefused
from mutator.contracts import (
    ERR_FENCED_OUT,
    ERR_MUTATION_FAILED,
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    ExecuteInput,
    ExecuteResult,
)
from mutator.effects import EmittedEvent
from mutator.lane_contracts import ERR_QUOTA_EXCEEDED, ERR_SCHEDULE_CLOSED
from mutator.models import MutationRequest
from mutator.quotas import QuotaUse
from mutator.schedule import ScheduleStatus, ScheduleTarget, Window, batch_schedule_status
from mutator.store import CompareAndSetLost, FencedOut, QuotaFull, Store, VersionConflict
from mutator.store.changes import KnownState


def apply_request(
    app: MutationApp,
    store: Store,
    input: ExecuteInput,
    known_state: KnownState | None = None,
    stopwatch: Stopwatch | None = None,
) -> ExecuteResult:
    """Apply ``input.request``'s change (its handler and write), recording its duration.

    ``known_state``: the state's version, data and history head as the caller read them
    under its claim (the store reads them otherwise); ``stopwatch`` starts the handler's
    time limit.
    """
    if stopwatch is not None:
        stopwatch.start()
    req = input.request
    try:
        mutation = app.get(req.mutation)
    except UnknownMutationError as exc:
        raise expected(str(exc), type=ERR_UNKNOWN_MUTATION) from exc

    # Break-glass bypasses windows, freezes and quotas.
    quota = None
    if not req.break_glass:
        check_schedule(app, store, req)
        quota = quota_use(app, req)
    handler_change = change_for(mutation, req.payload)
    change = recording_diffs(compensation_change(req, handler_change), req)
    ends = ending_original(store, req)
    # A restore runs no handler: it emits nothing.
    events = None if req.compensation_mode == "restore" else handler_change.emitted()
    meter = activity.metric_meter()
    started = time.monotonic()
    outcome = "failed"
    try:
        result = _apply(store, input, change, events, known_state, quota, ends)
        outcome = "applied"
        return result
    finally:
        meter.create_histogram_timedelta(
            metrics.EXECUTION, "Mutation execution activity", "s"
        ).record(
            timedelta(seconds=time.monotonic() - started),
            {"mutation": req.mutation, "outcome": outcome},
        )


def schedule_time() -> datetime:
    """The time the schedule is checked at: now, or the attempt's scheduled time if later.

    The attempt's scheduled time is the Temporal server's clock, the one the request's
    timer to ``scheduled_for`` fired by: a worker clock a little behind it must not find
    the schedule still closed (and a time-skipping test server's skipped time counts).
    """
    now = datetime.now(UTC)
    if activity.in_activity():
        return max(now, activity.info().current_attempt_scheduled_time.astimezone(UTC))
    return now


def current_schedule(app: MutationApp, store: Store, req: MutationRequest) -> ScheduleStatus:
    """The request's schedule now (``schedule_time``): its windows, freezes, ``not_before``.

    A batch's is every item's at once: it runs when all of them may.
    """
    now = schedule_time()
    changes = [(i.mutation, i.state_id) for i in req.items] or [(req.mutation, req.state_id)]
    targets = [
        ScheduleTarget(mutation=mutation, state_id=state_id, windows=_windows_of(app, mutation))
        for mutation, state_id in dict.fromkeys(changes)
    ]
    return batch_schedule_status(
        now,
        targets,
        freezes=store.freezes.list(active_at=now),
        not_before=req.not_before,
    )


def _windows_of(app: MutationApp, mutation: str) -> list[Window]:
    # An item's mutation unknown to this worker: its execution refuses it, not its schedule.
    try:
        return app.windows_of(mutation)
    except UnknownMutationError:
        return []


def check_schedule(app: MutationApp, store: Store, req: MutationRequest) -> None:
    """Refuse a change its schedule does not allow now: window, freezes and ``not_before``.

    Checked under the state's claim or lane turn, just before the handler runs.

    Raises:
        ApplicationError: ``ERR_SCHEDULE_CLOSED``, carrying the ``ScheduleStatus`` (its
            blocks and next open time) as its detail; nothing is applied.
    """
    status = current_schedule(app, store, req)
    if status.open:
        return
    blocks = "; ".join(f"{b.kind} {b.name}".strip() for b in status.blocks)
    when = status.next_open.isoformat() if status.next_open else "never"
    raise expected(
        f"not applied: the schedule is closed ({blocks}); it opens {when}",
        status.model_dump(mode="json"),
        type=ERR_SCHEDULE_CLOSED,
    )


def quota_use(app: MutationApp, req: MutationRequest) -> QuotaUse | None:
    """The quota slot the request's execution takes now (``schedule_time``); None: no quota.

    The store takes it in the execution's transaction, after the schedule check passed.
    """
    quota = app.get(req.mutation).quota
    if quota is None:
        return None
    return quota.use(req.mutation, req.state_id, req.requester, schedule_time())


def _apply(
    store: Store,
    input: ExecuteInput,
    change: Callable[[StateData], StateData],
    events: Callable[[], list[EmittedEvent]] | None,
    known_state: KnownState | None = None,
    quota: QuotaUse | None = None,
    ends: Callable[[MutationRequest], MutationRequest] | None = None,
) -> ExecuteResult:
    req = input.request
    for attempt in range(MAX_CAS_ATTEMPTS):
        try:
            applied = store.apply(
                request=req,
                change=change,
                expected_version=input.expected_version,
                fencing_token=input.fencing_token,
                claim_owner=input.claim_owner,
                lane_owner=input.lane_owner,
                # What the caller read holds for the first try only.
                known_state=known_state if attempt == 0 else None,
                quota=quota,
                events=events,
                ends=ends,
            )
            return ExecuteResult(request=applied)
        except QuotaFull as exc:
            raise expected(
                f"not applied: quota exceeded: {exc}",
                exc.exceeded.model_dump(mode="json"),
                type=ERR_QUOTA_EXCEEDED,
            ) from exc
        except FencedOut as exc:
            raise expected(str(exc), type=ERR_FENCED_OUT) from exc
        except VersionConflict as exc:
            raise expected(str(exc), exc.current, type=ERR_VERSION_CONFLICT) from exc
        except ValidationRefused as exc:
            raise expected(str(exc), type=ERR_VALIDATION) from exc
        except HandlerFailed as exc:
            raise users_bug(str(exc), type=ERR_MUTATION_FAILED) from exc
        except CompareAndSetLost:
            if input.expected_version is not None:
                current = store.current_version(req.state_id)
                raise expected(
                    f"state {req.state_id!r} moved to version {current} during execution",
                    current,
                    type=ERR_VERSION_CONFLICT,
                ) from None
            activity.logger.info("compare-and-set lost on %s; retrying", req.state_id)
            activity.metric_meter().create_counter(
                metrics.CAS_RETRIES, "Compare-and-set conflicts retried on the new state"
            ).add(1, {"mutation": req.mutation})
    raise RuntimeError(f"compare-and-set on {req.state_id!r} lost {MAX_CAS_ATTEMPTS} times")
