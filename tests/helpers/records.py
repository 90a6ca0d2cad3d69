"""Request records for the store and listing tests, built without a workflow, and a thread rig."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from mutator.models import Decision, DecisionCategory, MutationRequest, PendingReason, RequestStatus

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


def decision(
    code: str,
    at: datetime = T0,
    *,
    category: DecisionCategory = DecisionCategory.LIFECYCLE,
    actor: str = "alice",
    reason: str = "",
) -> Decision:
    return Decision(category=category, code=code, actor=actor, reason=reason, at=at)


def make_request(
    request_id: str,
    *,
    state_id: str = "acct-1",
    status: RequestStatus = RequestStatus.PENDING,
    revision: int = 1,
    created_at: datetime = T0,
    decisions: list[Decision] | None = None,
    **fields: Any,
) -> MutationRequest:
    return MutationRequest(
        request_id=request_id,
        state_id=state_id,
        mutation="accounts.deposit",
        payload={"amount": 5},
        requester="alice",
        status=status,
        revision=revision,
        created_at=created_at,
        updated_at=created_at,
        decisions=decisions if decisions is not None else [decision("submitted", created_at)],
        **fields,
    )


def executed(request_id: str, *, state_id: str = "acct-1", revision: int = 1) -> MutationRequest:
    """What the workflow hands to ``apply``: the ``executed`` revision of a request."""
    return make_request(
        request_id,
        state_id=state_id,
        status=RequestStatus.EXECUTED,
        revision=revision,
        decisions=[decision("submitted"), decision("executed", T0 + timedelta(seconds=1))],
    )


def add(amount: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "balance": data.get("balance", 0) + amount}

    return change


def run_concurrently(work: Callable[[int], T], count: int, timeout: float = 60) -> list[T]:
    """Run ``work(0..count-1)`` in threads released together; fail (not hang) on a deadlock."""
    barrier = threading.Barrier(count, timeout=timeout)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), f"threads still running after {timeout}s"
    if errors:
        raise errors[0]
    return [results[i] for i in range(count)]


def assert_aware_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def request(
    request_id: str,
    created_at: datetime,
    *,
    state_id: str = "a",
    mutation: str = "counter.add",
    requester: str = "alice",
    status: RequestStatus = RequestStatus.PENDING,
    pending_reason: PendingReason | None = PendingReason.APPROVAL,
) -> MutationRequest:
    return MutationRequest(
        request_id=request_id,
        state_id=state_id,
        mutation=mutation,
        payload={"amount": 1, "blob": "x" * 1000},
        requester=requester,
        status=status,
        pending_reason=pending_reason,
        revision=1,
        created_at=created_at,
        updated_at=created_at,
        decisions=[
            Decision(category=DecisionCategory.LIFECYCLE, code="submitted", actor=requester, at=T0)
        ],
    )
