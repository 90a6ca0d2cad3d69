"""Policy levels, priority, modes, combinators and async policies, pure (no server, no store)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from mutator.app import MutationApp
from mutator.decisions import EvaluationOutcome
from mutator.policies import (
    Abstain,
    AllOf,
    Allow,
    Deny,
    NamedDecision,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
    RequireChecks,
    combine,
)
from mutator.policy_composition import all_of, any_of, applying, is_decisive
from mutator.policy_runner import PolicyFailure

DIRECTORY = {"alice": ["sre"], "bob": ["sre"], "olga": ["oncall"], "dave": []}
SOFT = Deny("outside business hours", level="soft", override_roles={"oncall"})
ADVISORY = Deny("large change", level="advisory")
TWO_SRES = RequireApprovals(2, roles={"sre"})


def ctx(mutation: str = "limits.set", requester: str = "dave") -> PolicyContext:
    return PolicyContext(
        state_id="acct-1",
        mutation=mutation,
        payload={"limit": 5},
        state={},
        version=0,
        requester=requester,
    )


def app_with(mode: str = "all_must_pass") -> MutationApp:
    app = MutationApp(directory=DIRECTORY, policy_mode=mode)  # type: ignore[arg-type]

    @app.mutation("limits.set")
    def set_limit(state: dict[str, object], payload: dict[str, object]) -> dict[str, object]:
        return {**state, **payload}

    return app


def named(*decisions: PolicyDecision) -> list[NamedDecision]:
    return [NamedDecision(f"p{i}", d) for i, d in enumerate(decisions)]


# -- Deny levels ---------------------------------------------------------------------------


def test_deny_is_hard_by_default() -> None:
    assert Deny("no").level == "hard"
    assert Deny("no").override_roles == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "medium"}, "Deny.level must be one of hard, soft, advisory, got 'medium'"),
        ({"level": "soft"}, 'Deny(level="soft") needs override_roles'),
        ({"level": "soft", "override_roles": "oncall"}, "Deny.override_roles: must be a set"),
        ({"level": "soft", "override_roles": {""}}, "Deny.override_roles: must be a set"),
        ({"override_roles": {"oncall"}}, "only a soft deny is overridden, not hard"),
        (
            {"level": "soft", "override_roles": {"x"}, "timeout": timedelta(0)},
            "Deny.timeout must be a positive timedelta",
        ),
    ],
)
def test_a_bad_deny_is_refused_naming_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="Deny") as raised:
        Deny("no", **kwargs)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_combine_splits_denials_by_level() -> None:
    combined = combine(named(Deny("hard no"), SOFT, ADVISORY, TWO_SRES))
    assert [d.policy for d in combined.denials] == ["p0"]
    assert [d.policy for d in combined.soft_denials] == ["p1"]
    assert [d.policy for d in combined.warnings] == ["p2"]
    assert combined.deny_reason == "p0: hard no"


def test_an_advisory_deny_allows_with_a_warning() -> None:
    app = app_with()
    app.policy("limits.*")(lambda c: ADVISORY)
    evaluation = app.evaluate(ctx())
    assert evaluation.outcome == EvaluationOutcome.ALLOW
    assert [(w.policy, w.reason) for w in evaluation.warnings] == [("<lambda>", "large change")]


def test_a_soft_deny_asks_for_an_override_by_the_role_holders_not_the_requester() -> None:
    app = app_with()

    @app.policy("limits.*")
    def business_hours(c: PolicyContext) -> PolicyDecision:
        return Deny("outside business hours", level="soft", override_roles={"oncall", "sre"})

    evaluation = app.evaluate(ctx(requester="alice"))
    assert evaluation.outcome == EvaluationOutcome.REQUIRE_APPROVALS
    [override] = evaluation.overrides
    assert (override.policy, override.reason, override.eligible) == (
        "business_hours",
        "outside business hours",
        ["bob", "olga"],
    )
    assert evaluation.requirements == []


def test_a_soft_deny_nobody_may_override_is_an_error_naming_the_policy() -> None:
    app = app_with()

    @app.policy("limits.*")
    def lonely(c: PolicyContext) -> PolicyDecision:
        return Deny("no", level="soft", override_roles={"oncall"})

    with pytest.raises(ValueError, match="policy 'lonely': nobody may override its soft deny"):
        app.evaluate(ctx(requester="olga"))


def test_a_hard_deny_wins_over_a_soft_one_and_keeps_the_warnings() -> None:
    app = app_with()
    app.policy("limits.*")(lambda c: SOFT)
    app.policy("limits.*")(lambda c: Deny("frozen"))
    app.policy("limits.*")(lambda c: ADVISORY)
    evaluation = app.evaluate(ctx())
    assert evaluation.outcome == EvaluationOutcome.DENY
    assert evaluation.reason == "<lambda>: frozen"
    assert [w.reason for w in evaluation.warnings] == ["large change"]


# -- priority and first_decisive ---------------------------------------------------------


def test_is_decisive_is_everything_but_abstain_and_advisory() -> None:
    assert not is_decisive(Abstain())
    assert not is_decisive(ADVISORY)
    assert not is_decisive(AllOf((Abstain(), ADVISORY)))
    for decision in (Allow(), Deny("x"), SOFT, TWO_SRES, RequireChecks("ci")):
        assert is_decisive(decision)


def test_applying_stops_taking_at_the_first_decisive_decision() -> None:
    taken: list[str] = []

    def lazily() -> Iterator[NamedDecision]:
        for item in named(Abstain(), ADVISORY, Allow(), Deny("never runs")):
            taken.append(item.policy)
            yield item

    assert [d.policy for d in applying(lazily(), "first_decisive")] == ["p0", "p1", "p2"]
    assert taken == ["p0", "p1", "p2"]
    assert len(applying(iter(named(Allow(), Deny("x"))), "all_must_pass")) == 2


def test_first_decisive_runs_by_priority_and_skips_the_rest() -> None:
    app = app_with("first_decisive")
    ran: list[str] = []

    @app.policy("limits.*", priority=1)
    def low(c: PolicyContext) -> PolicyDecision:
        ran.append("low")
        return Deny("never")

    @app.policy("limits.*", priority=10)
    def high(c: PolicyContext) -> PolicyDecision:
        ran.append("high")
        return Allow()

    @app.policy("limits.*", priority=20)
    def highest(c: PolicyContext) -> PolicyDecision:
        ran.append("highest")
        return Abstain()

    assert app.evaluate(ctx()).outcome == EvaluationOutcome.ALLOW
    assert ran == ["highest", "high"]


def test_all_must_pass_is_the_default_and_every_policy_applies() -> None:
    app = app_with()
    assert app.policy_mode == "all_must_pass"
    app.policy("limits.*", priority=10)(lambda c: Allow())
    app.policy("limits.*")(lambda c: Deny("frozen"))
    assert app.evaluate(ctx()).outcome == EvaluationOutcome.DENY


def test_an_unknown_policy_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="policy_mode: must be one of all_must_pass, first_"):
        MutationApp(policy_mode="majority")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"priority": "high"}, "priority must be an integer"),
        ({"fail_open": "yes"}, "fail_open must be True or False"),
        ({"timeout": timedelta(seconds=1)}, "timeout= applies to async def policies only"),
    ],
)
def test_bad_policy_registration_is_refused_naming_the_policy(
    kwargs: dict[str, object], message: str
) -> None:
    app = app_with()

    def plain(c: PolicyContext) -> PolicyDecision:
        return Allow()

    with pytest.raises(ValueError, match="policy 'plain'") as raised:
        app.policy("limits.*", **kwargs)(plain)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_an_async_policy_timeout_is_bounded() -> None:
    app = app_with()

    async def slow(c: PolicyContext) -> PolicyDecision:
        return Allow()

    with pytest.raises(ValueError, match="at most 20 s"):
        app.policy("limits.*", timeout=timedelta(minutes=1))(slow)


# -- combinators -------------------------------------------------------------------------


def test_all_of_applies_every_member() -> None:
    app = app_with()

    def sres(c: PolicyContext) -> PolicyDecision:
        return TWO_SRES

    def ci(c: PolicyContext) -> PolicyDecision:
        return RequireChecks("ci", roles={"sre"})

    both = all_of(sres, ci, lambda c: Abstain())
    assert both.__name__ == "all_of(sres, ci, <lambda>)"
    app.policy("limits.*")(both)
    evaluation = app.evaluate(ctx())
    assert evaluation.outcome == EvaluationOutcome.REQUIRE_APPROVALS
    assert [r.policy for r in evaluation.requirements] == ["all_of(sres, ci, <lambda>)"]
    assert [c.name for c in evaluation.checks] == ["ci"]


def test_any_of_takes_the_most_lenient_member() -> None:
    def allow(c: PolicyContext) -> PolicyDecision:
        return Allow()

    def sres(c: PolicyContext) -> PolicyDecision:
        return TWO_SRES

    def deny(c: PolicyContext) -> PolicyDecision:
        return Deny("frozen")

    def soft(c: PolicyContext) -> PolicyDecision:
        return SOFT

    assert any_of(deny, sres, allow)(ctx()) == Allow()
    assert any_of(deny, sres)(ctx()) == TWO_SRES
    assert any_of(lambda c: Abstain())(ctx()) == Abstain()
    combined = any_of(deny, soft)(ctx())
    assert isinstance(combined, Deny)
    assert (combined.level, combined.reason) == ("soft", "frozen; outside business hours")


def test_combinators_need_policies() -> None:
    with pytest.raises(ValueError, match="all_of: give one or more policies"):
        all_of()
    with pytest.raises(ValueError, match="any_of: give one or more policies"):
        any_of("not a policy")  # type: ignore[arg-type]


def test_a_combinator_of_an_async_policy_is_async() -> None:
    async def remote(c: PolicyContext) -> PolicyDecision:
        await asyncio.sleep(0)
        return Deny("remote says no")

    combined = any_of(remote, lambda c: TWO_SRES)
    assert asyncio.iscoroutinefunction(combined)
    assert asyncio.run(combined(ctx())) == TWO_SRES


# -- async policies, timeouts and failures -----------------------------------------------


def test_an_async_policy_is_awaited() -> None:
    app = app_with()

    @app.policy("limits.*", timeout=timedelta(seconds=5))
    async def opa(c: PolicyContext) -> PolicyDecision:
        await asyncio.sleep(0)
        return Deny("opa says no")

    evaluation = app.evaluate(ctx())
    assert (evaluation.outcome, evaluation.reason) == (EvaluationOutcome.DENY, "opa: opa says no")


def test_an_async_policy_past_its_timeout_fails_closed_naming_it() -> None:
    app = app_with()
    hang = asyncio.Event()

    @app.policy("limits.*", timeout=timedelta(milliseconds=50))
    async def ticket_system(c: PolicyContext) -> PolicyDecision:
        await hang.wait()
        return Allow()

    with pytest.raises(PolicyFailure) as raised:
        app.evaluate(ctx())
    assert str(raised.value) == (
        "policy 'ticket_system' timed out: no decision within its timeout of 0.05 s"
    )


def test_an_async_policy_past_its_timeout_fails_open_with_a_warning() -> None:
    app = app_with()

    @app.policy("limits.*", timeout=timedelta(milliseconds=50), fail_open=True)
    async def ticket_system(c: PolicyContext) -> PolicyDecision:
        await asyncio.Event().wait()
        return Deny("never")

    evaluation = app.evaluate(ctx())
    assert evaluation.outcome == EvaluationOutcome.ALLOW
    [warning] = evaluation.warnings
    assert warning.policy == "ticket_system"
    assert warning.reason == (
        "policy 'ticket_system' timed out: no decision within its timeout of 0.05 s; failed open"
    )


def test_a_raising_policy_is_named_and_fails_closed_unless_fail_open() -> None:
    app = app_with()

    @app.policy("limits.*")
    def broken(c: PolicyContext) -> PolicyDecision:
        raise KeyError("owner")

    with pytest.raises(PolicyFailure, match=r"^policy 'broken' raised KeyError: 'owner'$"):
        app.evaluate(ctx())
    app.policies.clear()
    app.policy("limits.*", fail_open=True)(broken)
    assert [w.reason for w in app.evaluate(ctx()).warnings] == [
        "policy 'broken' raised KeyError: 'owner'; failed open"
    ]


def test_a_policy_returning_something_else_is_named() -> None:
    app = app_with()

    @app.policy("limits.*")
    def sloppy(c: PolicyContext) -> PolicyDecision:
        return True  # type: ignore[return-value]

    with pytest.raises(PolicyFailure, match=r"^policy 'sloppy' returned True; expected Allow"):
        app.evaluate(ctx())


def test_an_async_policy_is_awaited_from_a_running_event_loop_too() -> None:
    app = app_with()

    @app.policy("limits.*")
    async def remote(c: PolicyContext) -> PolicyDecision:
        return ADVISORY

    async def inside_a_loop() -> EvaluationOutcome:
        return app.evaluate(ctx()).outcome

    assert asyncio.run(inside_a_loop()) == EvaluationOutcome.ALLOW
    assert app.has_async_policies("limits.set")
    assert not app.has_async_policies("other")
