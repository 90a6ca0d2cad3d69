"""Properties of the lifecycle core over any sequence of votes, cancels, deadlines, stale
versions, revalidations, executions, schedule waits, check reports and overrides
(hypothesis): a final status never changes, no request is approved before its checks passed
and its soft denies were overridden, each step writes
the decisions docs/lifecycle.md documents (and a refused one writes none), and the quorum
holds exactly when distinct eligible approvers meet every requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutator import diffs, lifecycle
from mutator.contracts import (
    ERR_MUTATION_FAILED,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    CancelInput,
    EvaluateResult,
    RejectInput,
)
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.external_checks import CheckReport, CheckRequirement
from mutator.gates import GateKind, GateStatus
from mutator.lane_contracts import ERR_QUOTA_EXCEEDED, ERR_SCHEDULE_CLOSED, LaneOutcome
from mutator.lifecycle.check_state import overrides_passed
from mutator.models import (
    TERMINAL_STATUSES,
    ApprovalRequirement,
    DecisionCategory,
    MutationRequest,
    OnStale,
    RequestStatus,
)
from mutator.overrides import OverrideInput, OverrideRequirement, PolicyWarning
from mutator.quotas import OnExceeded, Quota, QuotaExceeded
from mutator.schedule import ScheduleBlock, ScheduleStatus
from tests.helpers.lifecycle import (
    REQUESTER,
    approve_input,
    approved_by_policy,
    approved_by_votes,
    at,
    lane_outcome,
    submitted,
)

PEOPLE = ["alice", "bob", "carol", REQUESTER, "mallory"]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

requirements = st.lists(
    st.builds(
        ApprovalRequirement,
        policy=st.sampled_from(["p1", "p2", "p3"]),
        count=st.integers(1, 2),
        eligible=st.lists(st.sampled_from(PEOPLE[:4]), min_size=1, max_size=4, unique=True),
        allow_self_approval=st.booleans(),
        timeout_seconds=st.floats(1, 10_000),
    ),
    min_size=1,
    max_size=3,
)
CHECKS = [
    CheckRequirement(name="ci", eligible=["alice", "bob"], timeout_seconds=100),
    CheckRequirement(name="scan", eligible=["carol"], timeout_seconds=50),
]
# The changes an evaluation may plan: one, or another (reapprove_if_changed compares them).
DIFFS = [diffs.state_diff({"a": 1}, {"a": 2}, 0), diffs.state_diff({"a": 3}, {"a": 2}, 0)]
OVERRIDES = [
    OverrideRequirement(
        policy="soft", reason="r", roles=["oncall"], eligible=["bob", "carol"], timeout_seconds=70
    ),
    OverrideRequirement(
        policy="late", reason="r", roles=["vp"], eligible=["alice"], timeout_seconds=30
    ),
]
WARNINGS = [PolicyWarning(policy="size", reason="large")]
evaluations = st.builds(
    EvaluateResult,
    planned_diff=st.sampled_from([None, DIFFS[0]]),
    outcome=st.sampled_from(list(EvaluationOutcome)),
    reason=st.sampled_from(["", "no"]),
    requirements=requirements,
    checks=st.sampled_from([[], [], CHECKS[:1], CHECKS]),
    overrides=st.sampled_from([[], [], OVERRIDES[:1], OVERRIDES]),
    state_version=st.integers(0, 5),
)
# Most requests wait for votes: that is where most steps apply.
admissions = st.one_of(
    evaluations.map(
        lambda e: e.model_copy(update={"outcome": EvaluationOutcome.REQUIRE_APPROVALS})
    ),
    evaluations,
    evaluations.map(lambda e: e.model_copy(update={"warnings": WARNINGS})),
)


@dataclass(frozen=True)
class Step:
    """One thing that can happen to a request, and how many decisions it documents."""

    name: str
    run: Callable[[MutationRequest, int], lifecycle.Effect]


def _quorum(request: MutationRequest) -> bool:
    """The quorum, counted here independently of mutator.approvals."""
    for req in request.required_approvals:
        voters = {
            a.actor
            for a in request.approvals
            if a.actor in req.eligible and (a.actor != REQUESTER or req.allow_self_approval)
        }
        if len(voters) < req.count:
            return False
    return True


def _executed(request: MutationRequest, _: int) -> lifecycle.Effect:
    stored = request.model_copy(deep=True)
    stored.status = RequestStatus.EXECUTED
    adopted = lifecycle.adopt(request, stored, len(request.decisions))
    request.status = adopted.status
    return lifecycle.Effect()


def _approve(actor: str, admitted: bool) -> Step:
    return Step(
        "approve",
        lambda r, t: lifecycle.approve(r, approve_input(actor), at(t), admitted=admitted),
    )


def _reject(actor: str, reason: str) -> Step:
    vote = RejectInput(actor=actor, reason=reason)
    return Step("reject", lambda r, t: lifecycle.reject_vote(r, vote, at(t)))


def _cancel(actor: str) -> Step:
    vote = CancelInput(actor=actor, reason="no longer needed")
    return Step("cancel", lambda r, t: lifecycle.cancel(r, vote, at(t)))


def _stale(strategy: OnStale, current: int) -> Step:
    return Step(f"stale:{strategy}", lambda r, t: lifecycle.stale(r, strategy, current, at(t)))


def _revalidated(evaluation: EvaluateResult) -> Step:
    return Step("revalidated", lambda r, t: lifecycle.revalidated(r, evaluation, 9, at(t)))


def _approval_kept(evaluation: EvaluateResult, latest: int) -> Step:
    found = evaluation.model_copy(update={"planned_diff": DIFFS[latest]})
    return Step(
        f"approval_kept_if_unchanged:{latest}:{found.outcome}",
        lambda r, t: lifecycle.approval_kept_if_unchanged(r, found, 9, at(t)),
    )


def _transition(target: RequestStatus) -> Step:
    """Any status change at all: only the arrows of ``TRANSITIONS`` may happen."""
    return Step(
        "transition",
        lambda r, t: lifecycle.transition(
            r, target, None, DecisionCode.EXECUTING, SystemActor.SYSTEM, "", at(t)
        ),
    )


def _execution(error_type: str, via_lane: bool) -> Step:
    outcome = lane_outcome(error_type, "it did not apply", current=7)
    return Step(
        "execution",
        lambda r, t: lifecycle.execution_refused(r, outcome, at(t), via_lane=via_lane),
    )


def _schedule_closed(opens: int | None, via_lane: bool) -> Step:
    block = ScheduleBlock(
        kind="freeze", name="f", detail="d", until=None if opens is None else at(opens)
    )
    status = ScheduleStatus(
        at=at(0), open=False, blocks=[block], next_open=None if opens is None else at(opens)
    )
    outcome = LaneOutcome(
        state_id="acct-1", token=1, error_type=ERR_SCHEDULE_CLOSED, error="closed", schedule=status
    )
    return Step(
        "execution",
        lambda r, t: lifecycle.execution_refused(r, outcome, at(t), via_lane=via_lane),
    )


def _quota_full(on_exceeded: OnExceeded, via_lane: bool) -> Step:
    quota = Quota(limit=1, per=timedelta(hours=1), key="state", on_exceeded=on_exceeded)
    exceeded = QuotaExceeded(use=quota.use("m", "acct-1", "dave", at(0)), used=1, next_slot=at(99))
    outcome = LaneOutcome(
        state_id="acct-1", token=1, error_type=ERR_QUOTA_EXCEEDED, error="full", quota=exceeded
    )
    return Step(
        "execution",
        lambda r, t: lifecycle.execution_refused(r, outcome, at(t), via_lane=via_lane),
    )


QUOTA_FREE = Step("quota_free", lambda r, t: lifecycle.quota_free(r, at(t)))


def _report(name: str, result: str, actor: str) -> Step:
    report = CheckReport.model_validate({"actor": actor, "name": name, "result": result})
    return Step(f"check:{result}:{name}", lambda r, t: lifecycle.report_check(r, report, at(t)))


def _override(actor: str, reason: str) -> Step:
    given = OverrideInput(actor=actor, reason=reason)
    return Step("override", lambda r, t: lifecycle.override(r, given, at(t)))


def _reported(request: MutationRequest, name: str) -> bool:
    return any(
        g.kind == GateKind.EXTERNAL_CHECK and g.name == name and g.status != GateStatus.WAITING
        for g in request.gates
    )


reports = st.builds(
    _report,
    st.sampled_from(["ci", "scan", "other"]),
    st.sampled_from(["passed", "passed", "failed"]),
    st.sampled_from(["alice", "carol", REQUESTER]),
)
GATES = Step("gates", lambda r, t: lifecycle.gates_complete(r, at(t)))

SCHEDULE_OPEN = Step("schedule_open", lambda r, t: lifecycle.schedule_open(r, at(t), "opened"))

votes = st.builds(_approve, st.sampled_from(PEOPLE), st.sampled_from([True, True, True, False]))
QUORUM = Step("quorum", lambda r, t: lifecycle.approvals_complete(r, at(t)))
quorum = st.just(QUORUM)
stale = st.builds(
    _stale,
    st.sampled_from(["reject", "reapprove", "revalidate", "reapprove_if_changed"]),
    st.integers(0, 9),
)
# Weighted towards votes, the quorum and the stale strategies, so that sequences get far
# (a cancel, a rejection or a failure ends them).
steps = st.one_of(
    *[votes] * 6,
    *[quorum] * 2,
    *[reports] * 3,
    *[st.builds(_override, st.sampled_from(PEOPLE), st.sampled_from(["", "ok"]))] * 2,
    st.just(GATES),
    *[stale] * 2,
    *[st.builds(_revalidated, evaluations)] * 2,
    st.builds(_approval_kept, evaluations, st.sampled_from([0, 1])),
    st.builds(_reject, st.sampled_from(PEOPLE), st.sampled_from(["", "too big"])),
    st.builds(_cancel, st.sampled_from(PEOPLE)),
    st.just(Step("deadline", lambda r, t: lifecycle.deadline_passed(r, at(t)))),
    st.just(Step("refused", lambda r, t: lifecycle.refused_attempt(r, "x", "no", at(t)))),
    st.builds(
        _execution,
        st.sampled_from(
            [ERR_VERSION_CONFLICT, ERR_VERSION_CONFLICT, ERR_VALIDATION, ERR_MUTATION_FAILED]
        ),
        st.booleans(),
    ),
    st.builds(_schedule_closed, st.sampled_from([None, 100, 100]), st.booleans()),
    st.just(SCHEDULE_OPEN),
    st.builds(_quota_full, st.sampled_from(["wait", "wait", "reject"]), st.booleans()),
    st.just(QUOTA_FREE),
    st.just(Step("executed", _executed)),
    st.just(Step("fail", lambda r, t: lifecycle.fail(r, "boom", at(t)))),
    *[st.builds(_transition, st.sampled_from(list(RequestStatus)))] * 2,
)


def _documented(name: str, before: MutationRequest, effect: lifecycle.Effect) -> set[int]:
    """How many decisions docs/lifecycle.md says ``name`` writes, from ``before``."""
    if name.startswith("approval_kept_if_unchanged:"):
        # Another change: approvals_reset and pending; else one (kept, revalidated,
        # pending or rejected).
        _, latest, outcome = name.split(":")
        another = before.planned_diff != DIFFS[int(latest)]
        return {2} if another and outcome == EvaluationOutcome.REQUIRE_APPROVALS else {1}
    if name.startswith("check:"):
        _, result, check = name.split(":")
        # A report of the recorded result again writes nothing; a failure also rejects.
        return {0} if _reported(before, check) else ({1} if result == "passed" else {2})
    counts = {
        "gates": {1} if before.status == RequestStatus.PENDING else {0},
        "approve": {1},
        "override": {1},
        "reject": {2},  # approval/rejected and lifecycle/rejected:approver_rejected
        "cancel": {1},
        "deadline": {1} if effect.transition else {0},
        "quorum": {1} if before.status == RequestStatus.PENDING else {0},
        "stale:reject": {2},
        "stale:reapprove": {3} if before.required_approvals else {2},
        "stale:revalidate": {1},
        "stale:reapprove_if_changed": {1} if before.required_approvals else {2},
        "revalidated": {1},
        "refused": {1} if before.refused_attempts_not_recorded == 0 else {0},
        "execution": {1, 2},  # lane_acquired when via the lane, then the outcome
        "schedule_open": {1} if effect.transition else {0},
        "quota_free": {1} if effect.transition else {0},
        "executed": {0},
        "fail": {1},
        "transition": {1},
    }
    return counts[name]


def _check_step(step: Step, request: MutationRequest, time: int) -> None:
    before = request.model_copy(deep=True)
    try:
        effect = step.run(request, time)
    except lifecycle.LifecycleError:
        assert request == before, f"{step.name}: a refused step recorded something"
        return
    written = request.decisions[len(before.decisions) :]
    assert list(effect.decisions) == written
    assert len(written) in _documented(step.name, before, effect), step.name
    if before.status.is_terminal:
        assert request.status == before.status
        assert step.name == "refused" or not written
    if effect.transition is None:
        assert request.status == before.status or step.name == "executed"
        # A lane turn (lane_acquired) and a check's report (check_*) are lifecycle records
        # that change no status.
        if step.name != "execution" and not step.name.startswith("check:"):
            assert all(d.category != DecisionCategory.LIFECYCLE for d in written)
        return
    assert (effect.transition.source, effect.transition.target) == (before.status, request.status)
    assert lifecycle.can_transition(before.status, request.status)
    assert effect.transition.decision.category == DecisionCategory.LIFECYCLE
    assert written[-1] == effect.transition.decision
    if before.status == RequestStatus.PENDING and request.status == RequestStatus.APPROVED:
        assert lifecycle.checks_passed(request), step.name
        assert overrides_passed(request), step.name
    if request.status == RequestStatus.APPROVED and step.name == "quorum":
        assert effect.transition.decision.actor == SystemActor.APPROVERS
        assert _quorum(request)


def _everyone_approves() -> list[Step]:
    """Every person approves, then the quorum is checked: most requests end up approved."""
    return [*(_approve(person, True) for person in PEOPLE), QUORUM]


@SETTINGS
@given(
    evaluation=admissions,
    approved_first=st.booleans(),
    sequence=st.lists(steps, max_size=30),
)
def test_any_sequence_keeps_the_lifecycle_rules(
    evaluation: EvaluateResult, approved_first: bool, sequence: list[Step]
) -> None:
    request = submitted()
    effect = lifecycle.admit(request, evaluation, at(1))
    assert effect.transition is not None
    assert len(effect.decisions) == 1 + len(evaluation.warnings)  # a warned decision each
    final: RequestStatus | None = request.status if request.status.is_terminal else None
    if approved_first:
        sequence = [*_everyone_approves(), *sequence]
    for time, step in enumerate(sequence, start=2):
        _check_step(step, request, time)
        if final is not None:
            assert request.status == final, f"{step.name} changed a final {final.value} request"
        elif request.status.is_terminal:
            final = request.status
        assert lifecycle.quorum_met(request) == _quorum(request)
        assert len({a.actor for a in request.approvals}) == len(request.approvals)


@SETTINGS
@given(reqs=requirements, voters=st.lists(st.sampled_from(PEOPLE), max_size=12))
def test_approved_iff_distinct_eligible_non_requester_approvers_meet_every_requirement(
    reqs: list[ApprovalRequirement], voters: list[str]
) -> None:
    request = submitted()
    lifecycle.admit(
        request,
        EvaluateResult(
            outcome=EvaluationOutcome.REQUIRE_APPROVALS, requirements=reqs, state_version=1
        ),
        at(1),
    )
    for voter in voters:
        refusal = lifecycle.approve_refusal(request, approve_input(voter), admitted=True)
        if refusal is None:
            lifecycle.approve(request, approve_input(voter), at(2))
        else:
            counted = [a.actor for a in request.approvals]
            assert voter in counted or not any(
                voter in r.eligible and (voter != REQUESTER or r.allow_self_approval) for r in reqs
            ), refusal
    assert lifecycle.quorum_met(request) == _quorum(request)
    if _quorum(request):
        effect = lifecycle.approvals_complete(request, at(3))
        assert request.status == RequestStatus.APPROVED
        assert effect.transition is not None
        assert effect.transition.decision.code == DecisionCode.APPROVED
    else:
        expired = lifecycle.deadline_passed(request, at(20_000))
        assert request.status == RequestStatus.EXPIRED
        assert expired.transition is not None


# An approved request's turn: stale versions, revalidations, refused executions, and the
# votes and deadlines of the approvals they may ask for again.
turn_steps = st.one_of(
    *[stale] * 3,
    *[st.builds(_revalidated, evaluations)] * 2,
    st.builds(_execution, st.sampled_from([ERR_VERSION_CONFLICT, ERR_VALIDATION]), st.booleans()),
    votes,
    quorum,
    st.just(Step("deadline", lambda r, t: lifecycle.deadline_passed(r, at(t)))),
)


@SETTINGS
@given(by_votes=st.booleans(), sequence=st.lists(turn_steps, max_size=20))
def test_stale_outcomes_keep_the_lifecycle_rules(by_votes: bool, sequence: list[Step]) -> None:
    request = approved_by_votes() if by_votes else approved_by_policy(expected_version=2)
    final: RequestStatus | None = None
    for time, step in enumerate(sequence, start=10):
        _check_step(step, request, time)
        if final is not None:
            assert request.status == final, f"{step.name} changed a final {final.value} request"
        elif request.status.is_terminal:
            final = request.status
        assert lifecycle.quorum_met(request) == _quorum(request)


@SETTINGS
@given(
    final=st.sampled_from(sorted(TERMINAL_STATUSES)),
    sequence=st.lists(st.one_of(steps, turn_steps), min_size=1, max_size=20),
)
def test_a_final_status_never_changes(final: RequestStatus, sequence: list[Step]) -> None:
    request = approved_by_votes()
    if lifecycle.can_transition(request.status, final):
        lifecycle.transition(
            request, final, None, DecisionCode.EXECUTED, SystemActor.SYSTEM, "", at(5)
        )
    else:  # only a compensation's execution sets compensated (tested below)
        request.status = final
    for time, step in enumerate(sequence, start=10):
        _check_step(step, request, time)
        assert request.status == final, f"{step.name} changed a final {final.value} request"


def _compensation(original: MutationRequest) -> MutationRequest:
    return submitted().model_copy(
        update={
            "request_id": "comp-1",
            "compensates": original.request_id,
            "compensation_mode": "restore",
            "status": RequestStatus.EXECUTED,
            "resulting_version": 3,
        }
    )


@SETTINGS
@given(sequence=st.lists(st.one_of(steps, turn_steps), max_size=20))
def test_only_a_compensation_executing_moves_a_request_to_compensated(
    sequence: list[Step],
) -> None:
    """No other step sets ``compensated``; the compensation's takes only executed to it."""
    request = approved_by_votes()
    for time, step in enumerate(sequence, start=10):
        _check_step(step, request, time)
        assert request.status != RequestStatus.COMPENSATED, step.name
        before = request.model_copy(deep=True)
        with pytest.raises(lifecycle.IllegalTransition):
            lifecycle.transition(
                request,
                RequestStatus.COMPENSATED,
                None,
                DecisionCode.COMPENSATED,
                "x",
                "",
                at(time),
            )
        assert request == before
    before = request.model_copy(deep=True)
    if request.status != RequestStatus.EXECUTED:
        with pytest.raises(lifecycle.IllegalTransition):
            lifecycle.compensated(request, _compensation(request), at(99))
        assert request == before
        request.status = RequestStatus.EXECUTED
        request.resulting_version = 2
    effect = lifecycle.compensated(request, _compensation(request), at(99))
    assert effect.transition is not None
    assert (effect.transition.source, effect.transition.target) == (
        RequestStatus.EXECUTED,
        RequestStatus.COMPENSATED,
    )
    assert (request.compensated_by, request.decisions[-1].code) == ("comp-1", "compensated")
    # compensated is final: neither another compensation nor any step changes it.
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle.compensated(request, _compensation(request), at(100))
    for time, step in enumerate(sequence, start=101):
        _check_step(step, request, time)
        assert request.status == RequestStatus.COMPENSATED
