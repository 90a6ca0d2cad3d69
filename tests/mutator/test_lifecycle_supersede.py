"""Supersede in the lifecycle core: when a request may be superseded, by whom, and the records.

No server, no store: the workflow's handler and the lane decide *when*; these functions say
whether, and what each side records.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mutator import MutationApp, lifecycle
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.models import MutationRequest, PendingReason, RequestStatus
from tests.helpers.lifecycle import (
    approved_by_policy,
    approved_by_votes,
    at,
    codes,
    evaluation,
    pending,
    submitted,
)


def _newer(request: MutationRequest, request_id: str = "r-2") -> MutationRequest:
    newer = request.model_copy(deep=True)
    newer.request_id = request_id
    newer.created_at = request.created_at + timedelta(seconds=1)
    return newer


def test_a_pending_request_is_superseded_with_one_decision() -> None:
    request = pending()
    effect = lifecycle.superseded(request, "r-2", at(5))
    assert effect.transition is not None
    assert (request.status, request.superseded_by) == (RequestStatus.SUPERSEDED, "r-2")
    assert request.pending_reason is None
    assert codes(request)[-1] == "lifecycle/superseded"
    last = request.decisions[-1]
    assert (last.actor, last.reason) == (
        SystemActor.SYSTEM,
        "superseded by r-2, a newer request for counter.add on acct-1",
    )
    assert lifecycle.next_step(request) == lifecycle.Done(RequestStatus.SUPERSEDED)


@pytest.mark.parametrize("make", [approved_by_policy, approved_by_votes])
def test_an_approved_request_not_yet_executing_is_superseded(make: object) -> None:
    request = make()  # type: ignore[operator]
    lifecycle.superseded(request, "r-2", at(5))
    assert request.status == RequestStatus.SUPERSEDED


def test_superseding_again_by_the_same_request_changes_nothing() -> None:
    request = pending()
    lifecycle.superseded(request, "r-2", at(5))
    seen = len(request.decisions)
    assert lifecycle.supersede_refusal(request, "r-2") is None
    effect = lifecycle.superseded(request, "r-2", at(6))
    assert (effect.decisions, effect.transition) == ((), None)
    assert len(request.decisions) == seen


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: _executing(), "is executing: a request that started to execute is never"),
        (lambda: submitted(batch=True), "is a batch: batches are never superseded"),
        (lambda: _final(RequestStatus.EXECUTED), "is executed: there is nothing left"),
        (lambda: _final(RequestStatus.CANCELED), "is canceled: there is nothing left"),
        (lambda: _superseded_by("r-3"), "is superseded: there is nothing left"),
    ],
)
def test_what_is_never_superseded(make: object, why: str) -> None:
    request: MutationRequest = make()  # type: ignore[operator]
    before = request.model_copy(deep=True)
    assert why in (lifecycle.supersede_refusal(request, "r-2") or "")
    with pytest.raises(lifecycle.IllegalTransition, match="cannot be superseded"):
        lifecycle.superseded(request, "r-2", at(5))
    assert request == before


def test_a_request_cannot_supersede_itself() -> None:
    request = pending()
    assert lifecycle.supersede_refusal(request, "r-1") == "request r-1 cannot supersede itself"


def _executing() -> MutationRequest:
    request = approved_by_policy()
    executing, code = RequestStatus.EXECUTING, DecisionCode.EXECUTING
    lifecycle.transition(request, executing, None, code, SystemActor.SYSTEM, "", at(2))
    return request


def _final(status: RequestStatus) -> MutationRequest:
    request = pending()
    code = DecisionCode.CANCELED if status == RequestStatus.CANCELED else DecisionCode.EXECUTED
    lifecycle.transition(request, status, None, code, SystemActor.SYSTEM, "", at(2))
    return request


def _superseded_by(by: str) -> MutationRequest:
    request = pending()
    lifecycle.superseded(request, by, at(2))
    return request


def test_the_newer_request_has_authority_when_admitted_newer_and_of_the_same_pair() -> None:
    older = pending()
    newer = _newer(pending())
    assert lifecycle.authority_refusal(older, newer, declared=True) is None
    allowed = _newer(approved_by_policy())
    assert lifecycle.authority_refusal(older, allowed, declared=True) is None


def test_authority_is_refused_with_a_reason() -> None:
    older = pending()
    denied = submitted()
    lifecycle.admit(denied, evaluation(EvaluationOutcome.DENY, reason="no"), at(1))
    other_state = _newer(pending())
    other_state.state_id = "acct-2"
    cases = [
        (None, True, "no request with that id is stored"),
        (_newer(pending()), False, "mutation 'counter.add' does not declare supersede=True"),
        (_newer(denied), True, "request r-2 was not admitted by the policies"),
        (other_state, True, "request r-2 is not a request for counter.add on acct-1"),
        (_older_than(older), True, "request r-0 is not newer than r-1"),
        (_newer(submitted(batch=True)), True, "is not a request for counter.add on acct-1"),
    ]
    for newer, declared, why in cases:
        assert why in (lifecycle.authority_refusal(older, newer, declared=declared) or "")


def _older_than(request: MutationRequest) -> MutationRequest:
    older = pending()
    older.request_id = "r-0"
    older.created_at = request.created_at - timedelta(seconds=1)
    return older


def test_same_time_is_ordered_by_request_id() -> None:
    first, second = pending(), pending()
    second.request_id = "r-2"
    assert lifecycle.authority_refusal(first, second, declared=True) is None
    assert "is not newer" in (lifecycle.authority_refusal(second, first, declared=True) or "")


def test_the_newer_request_records_what_it_superseded_once() -> None:
    request = approved_by_policy()
    assert lifecycle.record_supersedes(request, [], at(3)).decisions == ()
    effect = lifecycle.record_supersedes(request, ["r-0", "r-00"], at(3))
    assert effect.transition is None
    assert request.supersedes == ["r-0", "r-00"]
    assert (request.decisions[-1].code, request.decisions[-1].reason) == (
        DecisionCode.SUPERSEDES,
        "superseded r-0, r-00",
    )
    assert lifecycle.record_supersedes(request, ["r-0"], at(4)).decisions == ()
    assert request.status == RequestStatus.APPROVED


def test_a_pending_request_of_any_gate_can_be_superseded() -> None:
    request = pending()
    request.pending_reason = PendingReason.SCHEDULE
    assert lifecycle.supersede_refusal(request, "r-2") is None


def test_app_mutation_supersede_must_be_a_bool() -> None:
    app = MutationApp()
    with pytest.raises(ValueError, match="supersede must be True or False, got 'yes'"):
        app.mutation("x.set", supersede="yes")  # type: ignore[arg-type]
    assert "x.set" not in app.mutations
    app.mutation("y.set", supersede=True)(lambda state, payload: state)
    assert app.mutations["y.set"].supersede
