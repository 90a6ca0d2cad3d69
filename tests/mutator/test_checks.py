"""External checks in the domain: RequireChecks, who may report, and the lifecycle's gate."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mutator import lifecycle
from mutator.app import MutationApp
from mutator.decisions import DecisionCode, EvaluationOutcome, SystemActor
from mutator.external_checks import CheckReport, CheckRequirement, merge_checks, requirements_from
from mutator.gates import GateKind, GateStatus
from mutator.lifecycle import IllegalTransition, VoteRefused
from mutator.models import PendingReason, RejectionCode, RequestStatus
from mutator.policies import DEFAULT_CHECK_TIMEOUT, PolicyContext, RequireChecks
from mutator.store import Store
from tests.helpers.lifecycle import REQUESTER, TWO_OF_THREE, at, submitted

CI = CheckRequirement(
    name="ci", policies=["gate"], eligible=["ci-bot"], reporters=["ci-bot"], timeout_seconds=600
)
SCAN = CheckRequirement(name="scan", policies=["gate"], eligible=["scanner"], timeout_seconds=60)


def evaluated(*checks: CheckRequirement, approvals: bool = False):  # type: ignore[no-untyped-def]
    from mutator.contracts import EvaluateResult

    request = submitted()
    result = EvaluateResult(
        outcome=EvaluationOutcome.REQUIRE_APPROVALS,
        requirements=[TWO_OF_THREE] if approvals else [],
        checks=list(checks),
        state_version=4,
    )
    lifecycle.admit(request, result, at(0))
    return request


def report(name: str = "ci", result: str = "passed", actor: str = "ci-bot", details: str = ""):  # type: ignore[no-untyped-def]
    return CheckReport.model_validate(
        {"actor": actor, "name": name, "result": result, "details": details}
    )


# -- RequireChecks --------------------------------------------------------------------


def test_require_checks_keeps_its_names_timeout_and_reporters() -> None:
    decision = RequireChecks("ci", "security-scan", timeout=timedelta(hours=1), roles={"ci"})
    assert decision.names == ("ci", "security-scan")
    assert decision.timeout == timedelta(hours=1)
    assert decision.roles == frozenset({"ci"})
    assert RequireChecks("ci").timeout == DEFAULT_CHECK_TIMEOUT


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "RequireChecks.names: name at least one check"),
        (("ci", "ci"), {}, "RequireChecks.names: ci named more than once"),
        (("ci",), {"timeout": timedelta(0)}, "RequireChecks.timeout must be a positive"),
        (("ci",), {"timeout": timedelta(seconds=-1)}, "RequireChecks.timeout must be a positive"),
        (("ci",), {"timeout": 60}, "RequireChecks.timeout must be a positive timedelta"),
        (("a b",), {}, "RequireChecks.names: 'a b' is not a check name"),
        (("x" * 101,), {}, "is not a check name"),
        (("ci",), {"reporters": "ci-bot"}, "RequireChecks.reporters: must be a set"),
        (("ci",), {"roles": {""}}, "RequireChecks.roles: must be a set"),
    ],
)
def test_a_bad_require_checks_is_refused_naming_the_field(
    args: tuple[str, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match="RequireChecks") as raised:
        RequireChecks(*args, **kwargs)  # type: ignore[arg-type]
    assert message in str(raised.value)


# -- who may report ----------------------------------------------------------------------

DIRECTORY = {"ci-bot": frozenset({"ci"}), "alice": frozenset({"sre"}), "dave": frozenset()}


def test_reporters_are_the_named_ids_and_role_holders_never_the_requester() -> None:
    asked = [("gate", ("ci",), frozenset({"outside"}), frozenset({"ci", "sre"}), 60.0)]
    (check,) = requirements_from(asked, DIRECTORY, "alice")
    assert check.eligible == ["ci-bot", "outside"]
    assert check.roles == ["ci", "sre"]


def test_without_reporters_or_roles_anyone_in_the_directory_but_the_requester() -> None:
    (check,) = requirements_from(
        [("gate", ("ci",), frozenset(), frozenset(), 60.0)], DIRECTORY, "dave"
    )
    assert check.eligible == ["alice", "ci-bot"]


def test_a_check_asked_twice_is_one_with_the_shorter_timeout_and_both_rules() -> None:
    asked = [
        ("a", ("ci",), frozenset(), frozenset({"ci", "sre"}), 600.0),
        ("b", ("ci", "scan"), frozenset({"ci-bot"}), frozenset(), 60.0),
    ]
    ci, scan = requirements_from(asked, DIRECTORY, "dave")
    assert (ci.name, ci.eligible, ci.timeout_seconds, ci.policies) == (
        "ci",
        ["ci-bot"],
        60.0,
        ["a", "b"],
    )
    assert scan.eligible == ["ci-bot"]


def test_a_check_nobody_may_report_is_refused() -> None:
    with pytest.raises(ValueError, match="nobody may report check 'ci'"):
        requirements_from(
            [("gate", ("ci",), frozenset({"dave"}), frozenset(), 60.0)], DIRECTORY, "dave"
        )


def test_a_batch_merges_its_items_checks() -> None:
    other = CI.model_copy(update={"eligible": ["ci-bot", "x"], "timeout_seconds": 30})
    (merged,) = merge_checks([[CI], [other]])
    assert (merged.eligible, merged.timeout_seconds) == (["ci-bot"], 30)
    with pytest.raises(ValueError, match="nobody may report check 'ci'"):
        merge_checks([[CI], [CI.model_copy(update={"eligible": ["x"]})]])


def test_the_app_evaluates_require_checks_alone_and_with_approvals() -> None:
    app = MutationApp(directory={"ci-bot": ["ci"], "alice": ["sre"]})

    @app.mutation("counter.add")
    def add(state: dict[str, int], payload: dict[str, int]) -> dict[str, int]:
        return state

    @app.policy("counter.*")
    def checks(ctx: PolicyContext) -> RequireChecks:
        return RequireChecks("ci", roles={"ci"}, timeout=timedelta(minutes=5))

    ctx = PolicyContext("acct-1", "counter.add", {}, {}, 0, "alice")
    evaluation = app.evaluate(ctx)
    assert evaluation.outcome == EvaluationOutcome.REQUIRE_APPROVALS
    assert evaluation.requirements == []
    assert [(c.name, c.eligible, c.timeout_seconds) for c in evaluation.checks] == [
        ("ci", ["ci-bot"], 300.0)
    ]
    batch = app.evaluate_batch([ctx, ctx])
    assert [c.name for c in batch.checks] == ["ci"]


# -- the lifecycle -----------------------------------------------------------------------


def test_checks_alone_wait_pending_external_check_with_one_gate_each() -> None:
    request = evaluated(CI, SCAN)
    assert (request.status, request.pending_reason) == (
        RequestStatus.PENDING,
        PendingReason.EXTERNAL_CHECK,
    )
    assert [(g.kind, g.name, g.status) for g in request.gates] == [
        (GateKind.EXTERNAL_CHECK, "ci", GateStatus.WAITING),
        (GateKind.EXTERNAL_CHECK, "scan", GateStatus.WAITING),
    ]
    assert request.decisions[-1].reason == "waits for checks: ci, scan"
    assert [c.deadline for c in request.required_checks] == [at(600), at(60)]
    assert request.deadline is None
    assert lifecycle.next_step(request) == lifecycle.AwaitApprovals(at(60))


def test_passing_every_check_approves_by_gates() -> None:
    request = evaluated(CI, SCAN)
    effect = lifecycle.report_check(request, report(details="build 812"), at(5))
    assert [(d.code, d.actor, d.reason) for d in effect.decisions] == [
        (DecisionCode.CHECK_PASSED, "ci-bot", "ci passed: build 812")
    ]
    assert request.gates[0].detail == "passed, reported by ci-bot: build 812"
    assert not lifecycle.gates_met(request)
    # The first gate deadline moves to the check still waiting.
    assert lifecycle.gate_deadline(request) == at(60)
    lifecycle.report_check(request, report("scan", actor="scanner"), at(6))
    assert lifecycle.gates_met(request)
    effect = lifecycle.gates_complete(request, at(6))
    assert effect.transition is not None
    assert (request.status, request.decisions[-1].actor, request.decisions[-1].reason) == (
        RequestStatus.APPROVED,
        SystemActor.GATES,
        "checks passed: ci, scan",
    )


def test_a_failed_check_rejects_check_failed_naming_it_and_its_details() -> None:
    request = evaluated(CI)
    effect = lifecycle.report_check(request, report(result="failed", details="tests red"), at(5))
    assert [d.code for d in effect.decisions] == [
        DecisionCode.CHECK_FAILED,
        "rejected:check_failed",
    ]
    assert request.status == RequestStatus.REJECTED
    assert request.rejection is not None
    assert request.rejection.code == RejectionCode.CHECK_FAILED
    assert request.rejection.reason == "check ci failed (reported by ci-bot): tests red"
    assert request.gates[0].status == GateStatus.FAILED


def test_checks_and_approvals_wait_together_first_the_check_gate() -> None:
    request = evaluated(CI, approvals=True)
    assert request.pending_reason == PendingReason.EXTERNAL_CHECK
    assert request.decisions[-1].reason.endswith("; checks: ci")
    assert lifecycle.gate_deadline(request) == at(600)
    lifecycle.report_check(request, report(), at(1))
    assert request.pending_reason == PendingReason.APPROVAL
    assert lifecycle.gate_deadline(request) == at(3600)  # the approvals' deadline now
    for who in ("alice", "bob"):
        from mutator.contracts import ApproveInput

        lifecycle.approve(request, ApproveInput(actor=who), at(2))
    lifecycle.gates_complete(request, at(2))
    assert request.status == RequestStatus.APPROVED
    assert request.decisions[-1].actor == SystemActor.APPROVERS
    assert request.decisions[-1].reason.endswith("; checks passed: ci")


def test_approvals_met_first_still_wait_for_the_check() -> None:
    request = evaluated(CI, approvals=True)
    from mutator.contracts import ApproveInput

    for who in ("alice", "bob"):
        lifecycle.approve(request, ApproveInput(actor=who), at(2))
    assert lifecycle.quorum_met(request)
    assert not lifecycle.gates_met(request)
    with pytest.raises(IllegalTransition):
        lifecycle.gates_complete(request, at(2))
    assert request.status == RequestStatus.PENDING


@pytest.mark.parametrize("target", [RequestStatus.APPROVED, RequestStatus.EXECUTED])
def test_no_step_moves_a_request_on_while_a_check_is_outstanding(target: RequestStatus) -> None:
    """Not only the quorum: any transition (a schedule or quota opening, a direct execution)
    is refused while a required check has not passed, and records nothing."""
    request = evaluated(CI, SCAN)
    lifecycle.report_check(request, report(), at(1))
    before = request.model_copy(deep=True)
    with pytest.raises(IllegalTransition, match=r"before its checks pass \(scan\)"):
        lifecycle.transition(
            request, target, None, DecisionCode.APPROVED, SystemActor.SYSTEM, "", at(2)
        )
    assert request == before


def test_a_check_not_reported_by_its_deadline_expires_the_request() -> None:
    request = evaluated(CI, SCAN)
    lifecycle.report_check(request, report(), at(1))
    effect = lifecycle.deadline_passed(request, at(60))
    assert effect.transition is not None
    assert request.status == RequestStatus.EXPIRED
    assert request.decisions[-1].reason == "check scan not reported before its deadline"


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (report("deploy"), "check 'deploy' is not required by request r-1 (required checks: ci)"),
        (report(actor="mallory"), "mallory may not report check ci (reporters: ci-bot)"),
        (
            report(actor=REQUESTER),
            "dave is the requester: a request's checks are reported by others",
        ),
        (report(actor=" "), "actor must not be empty"),
        (report(name=""), "name must not be empty"),
    ],
)
def test_a_report_that_cannot_count_is_refused_and_records_nothing(
    sent: CheckReport, message: str
) -> None:
    request = evaluated(CI)
    before = request.model_copy(deep=True)
    with pytest.raises(VoteRefused, match=re.escape(message)):
        lifecycle.report_check(request, sent, at(1))
    assert request == before


def test_a_repeated_report_is_idempotent_and_a_different_one_refused() -> None:
    request = evaluated(CI, SCAN)
    lifecycle.report_check(request, report(), at(1))
    before = request.model_copy(deep=True)
    assert lifecycle.report_refusal(request, report(), admitted=True) is None
    assert lifecycle.report_check(request, report(), at(2)).decisions == ()
    assert request == before
    refusal = lifecycle.report_refusal(request, report(result="failed"), admitted=True)
    assert (
        refusal
        == "check ci was already reported passed; a report is final (cancel the request to stop it)"
    )
    with pytest.raises(VoteRefused):
        lifecycle.report_check(request, report(result="failed"), at(2))
    assert request == before


def test_a_request_that_no_longer_waits_refuses_a_new_report() -> None:
    request = evaluated(CI, SCAN)
    lifecycle.report_check(request, report("scan", result="failed", actor="scanner"), at(1))
    refusal = lifecycle.report_refusal(request, report(), admitted=True)
    assert refusal == "request r-1 is rejected; it no longer waits for check reports"
    assert lifecycle.report_refusal(request, report(), admitted=False) == (
        "the request is still being evaluated; try again in a moment"
    )
    # ... but the failed report, said again, is still the harmless repeat.
    assert (
        lifecycle.report_refusal(request, report("scan", "failed", "scanner"), admitted=True)
        is None
    )


def test_a_request_without_checks_behaves_as_before() -> None:
    request = submitted()
    from mutator.contracts import EvaluateResult

    lifecycle.admit(
        request,
        EvaluateResult(
            outcome=EvaluationOutcome.REQUIRE_APPROVALS,
            requirements=[TWO_OF_THREE],
            state_version=4,
        ),
        at(0),
    )
    assert lifecycle.gate_deadline(request) == request.deadline == at(3600)
    lifecycle.deadline_passed(request, at(3600))
    assert request.decisions[-1].reason == "no quorum before the deadline"


# -- the store -----------------------------------------------------------------------------


def test_a_request_waiting_for_checks_is_stored_and_listed_as_it_is(store: Store) -> None:
    """On SQLite and PostgreSQL: the checks, their gates and the reason round-trip."""
    waiting = evaluated(CI, SCAN)
    lifecycle.report_check(waiting, report(details="build 812"), at(5))
    waiting.revision = 1
    store.save_request(waiting)
    found = store.get_request(waiting.request_id)
    assert found == waiting
    assert found is not None
    assert found.required_checks[0].deadline == at(600)
    listed = store.list_requests(status="pending", pending_reason="external_check")
    assert [r.request_id for r in listed] == [waiting.request_id]
