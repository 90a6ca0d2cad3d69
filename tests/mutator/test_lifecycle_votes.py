"""Votes in the lifecycle core: approve, reject, cancel, the quorum and the deadline, every
refusal, and the decisions each writes (no server, no store).
"""

from __future__ import annotations

import re

import pytest

from mutator import lifecycle
from mutator.contracts import (
    CancelInput,
    RejectInput,
)
from mutator.decisions import DecisionCode, SystemActor
from mutator.models import (
    MutationRequest,
    RejectionCode,
    RequestStatus,
)
from tests.helpers.lifecycle import (
    REQUESTER,
    TWO_OF_THREE,
    approve_input,
    approved_by_votes,
    at,
    codes,
    pending,
)

# -- votes --------------------------------------------------------------------------------


def test_every_requirement_met_approves() -> None:
    request = pending()
    first = lifecycle.approve(request, approve_input("alice", "fine"), at(2))
    assert first.transition is None
    assert len(first.decisions) == 1
    assert codes(request)[-1] == "approval/approved"
    assert not lifecycle.quorum_met(request)
    lifecycle.approve(request, approve_input("bob"), at(2))
    assert lifecycle.quorum_met(request)
    # Still waiting: the workflow acts on the quorum.
    assert lifecycle.next_step(request) == lifecycle.AwaitApprovals(at(3601))
    effect = lifecycle.approvals_complete(request, at(3))
    assert effect.transition is not None
    assert request.status == RequestStatus.APPROVED
    assert effect.transition.decision.actor == SystemActor.APPROVERS
    assert effect.transition.decision.reason.startswith("two_of_three: 2 of 2 approvals")


def test_approvals_complete_needs_the_quorum() -> None:
    request = pending()
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.approvals_complete(request, at(3))
    assert request.status == RequestStatus.PENDING


def test_an_eligible_approver_rejects() -> None:
    request = pending()
    effect = lifecycle.reject_vote(request, RejectInput(actor="carol", reason="too big"), at(2))
    assert codes(request)[-2:] == ["approval/rejected", "lifecycle/rejected:approver_rejected"]
    assert len(effect.decisions) == 2
    assert request.rejection is not None
    assert (request.rejection.code, request.rejection.actor) == (
        RejectionCode.APPROVER_REJECTED,
        "carol",
    )
    assert lifecycle.next_step(request) == lifecycle.Done(RequestStatus.REJECTED)


@pytest.mark.parametrize("actor", [REQUESTER, "alice"])
def test_the_requester_or_an_approver_cancels(actor: str) -> None:
    request = pending()
    effect = lifecycle.cancel(request, CancelInput(actor=actor, reason="not needed"), at(2))
    assert request.status == RequestStatus.CANCELED
    assert effect.transition is not None
    assert (effect.transition.decision.code, effect.transition.decision.actor) == (
        DecisionCode.CANCELED,
        actor,
    )


def test_the_deadline_expires_a_request_without_its_quorum() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2))
    effect = lifecycle.deadline_passed(request, at(3601))
    assert request.status == RequestStatus.EXPIRED
    assert effect.transition is not None
    assert effect.transition.decision.reason == "no quorum before the deadline"


def test_the_deadline_does_nothing_once_the_quorum_is_met_or_the_request_ended() -> None:
    met = pending()
    for actor in ("alice", "bob"):
        lifecycle.approve(met, approve_input(actor), at(2))
    assert lifecycle.deadline_passed(met, at(3601)) == lifecycle.Effect()
    assert met.status == RequestStatus.PENDING
    canceled = pending()
    lifecycle.cancel(canceled, CancelInput(actor=REQUESTER, reason="x"), at(2))
    assert lifecycle.deadline_passed(canceled, at(3601)) == lifecycle.Effect()
    assert lifecycle.approvals_complete(canceled, at(3601)) == lifecycle.Effect()
    assert canceled.status == RequestStatus.CANCELED


# -- refusals -----------------------------------------------------------------------------

REFUSALS = [
    ("approve", "mallory", "'mallory' is not an eligible approver (eligible: alice, bob, carol)"),
    ("approve", "", "actor must not be empty"),
    ("reject", "mallory", "'mallory' is not an eligible approver and cannot reject this request"),
    ("cancel", "mallory", "'mallory' is neither the requester nor an eligible approver"),
]


def _vote(request: MutationRequest, kind: str, actor: str, *, admitted: bool = True) -> None:
    if kind == "approve":
        lifecycle.approve(request, approve_input(actor), at(2), admitted=admitted)
    elif kind == "reject":
        lifecycle.reject_vote(
            request, RejectInput(actor=actor, reason="r"), at(2), admitted=admitted
        )
    else:
        lifecycle.cancel(request, CancelInput(actor=actor, reason="r"), at(2), admitted=admitted)


@pytest.mark.parametrize(("kind", "actor", "refusal"), REFUSALS)
def test_a_refused_vote_changes_nothing(kind: str, actor: str, refusal: str) -> None:
    request = pending()
    before = request.model_copy(deep=True)
    with pytest.raises(lifecycle.VoteRefused, match=re.escape(refusal)):
        _vote(request, kind, actor)
    assert request == before


def test_one_vote_per_approver() -> None:
    request = pending()
    lifecycle.approve(request, approve_input("alice"), at(2))
    refusal = lifecycle.approve_refusal(request, approve_input("alice"), admitted=True)
    assert refusal == "'alice' has already approved this request; one vote per approver"


def test_self_approval_is_refused_unless_allowed() -> None:
    mine = TWO_OF_THREE.model_copy(update={"eligible": ["alice", REQUESTER]})
    request = pending(mine)
    refusal = lifecycle.approve_refusal(request, approve_input(REQUESTER), admitted=True)
    assert refusal == (
        f"{REQUESTER!r} requested this change and cannot approve it (self-approval not allowed)"
    )
    allowed = pending(mine.model_copy(update={"allow_self_approval": True}))
    assert lifecycle.approve_refusal(allowed, approve_input(REQUESTER), admitted=True) is None


def test_a_rejection_needs_a_reason() -> None:
    refusal = lifecycle.reject_refusal(
        pending(), RejectInput(actor="alice", reason="  "), admitted=True
    )
    assert refusal == "reason must not be empty: say why the request is rejected"


@pytest.mark.parametrize("kind", ["approve", "reject", "cancel"])
def test_votes_wait_for_the_evaluation(kind: str) -> None:
    with pytest.raises(lifecycle.VoteRefused, match="still being evaluated"):
        _vote(pending(), kind, "alice", admitted=False)


@pytest.mark.parametrize("kind", ["approve", "reject"])
def test_a_vote_after_the_end_is_refused(kind: str) -> None:
    request = approved_by_votes()
    with pytest.raises(lifecycle.VoteRefused, match="is approved; it no longer takes votes"):
        _vote(request, kind, "carol")


def test_cancel_of_a_final_request_is_refused() -> None:
    request = approved_by_votes()
    lifecycle.transition(
        request,
        RequestStatus.EXECUTED,
        None,
        DecisionCode.EXECUTED,
        SystemActor.SYSTEM,
        "",
        at(4),
    )
    with pytest.raises(lifecycle.VoteRefused, match="is executed; it can no longer be canceled"):
        _vote(request, "cancel", REQUESTER)


def test_refused_signals_are_recorded_up_to_the_cap_then_counted() -> None:
    request = pending()
    written = [
        len(lifecycle.refused_attempt(request, "x", "approve: no", at(2)).decisions)
        for _ in range(lifecycle.MAX_REFUSED_ATTEMPTS_KEPT + 3)
    ]
    assert written == [1] * lifecycle.MAX_REFUSED_ATTEMPTS_KEPT + [1, 0, 0]
    assert codes(request)[-1] == "approval/refused_attempts_capped"
    assert request.refused_attempts_not_recorded == 3
    assert request.status == RequestStatus.PENDING
