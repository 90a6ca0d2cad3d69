"""The app of the diff, dry-run and ``reapprove_if_changed`` tests: account limits."""

from __future__ import annotations

from typing import Any

from mutator import Allow, Deny, MutationApp, PolicyContext, PolicyDecision, RequireApprovals


def set_limit(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, payload["name"]: payload["value"]}


def double_limit(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """A change that depends on the state: doubles ``payload.name``."""
    return {**state, payload["name"]: state.get(payload["name"], 1) * 2}


def _value_is_valid(state: dict[str, Any], payload: dict[str, Any]) -> None:
    value = payload.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"payload.value must be a non-negative integer, got {value!r}")


def one_of_two(ctx: PolicyContext) -> PolicyDecision:
    value = ctx.payload.get("value", 0)
    if isinstance(value, int) and value > 1000:
        return Deny(f"limit {value} is above 1000")
    if isinstance(value, int) and value > 500:
        return Deny(f"limit {value} is above 500", level="soft", override_roles={"sre"})
    return RequireApprovals(1, approvers={"alice", "bob"})


def large_limits(ctx: PolicyContext) -> PolicyDecision:
    value = ctx.payload.get("value", 0)
    if isinstance(value, int) and value > 100:
        return Deny(f"limit {value} is large", level="advisory")
    return Allow()


def allowed(ctx: PolicyContext) -> PolicyDecision:
    return Allow()


def build_diff_app() -> MutationApp:
    app = MutationApp(directory={"alice": ["sre"], "bob": ["sre"], "dave": ["dev"]})
    app.mutation("limits.set", on_stale="reapprove_if_changed")(set_limit).validator(
        _value_is_valid
    )
    app.mutation("limits.double", on_stale="reapprove_if_changed")(double_limit)
    app.mutation("limits.force")(set_limit).validator(_value_is_valid)
    app.mutation("limits.renew", on_stale="reapprove")(set_limit)
    app.policy("limits.renew")(one_of_two)
    app.policy("limits.set")(one_of_two)
    app.policy("limits.set")(large_limits)
    app.policy("limits.double")(one_of_two)
    app.policy("limits.force")(allowed)
    return app


app = build_diff_app()
