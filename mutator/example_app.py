"""The example app `mutator dev` runs: a counter, feature flags, account limits, releases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mutator import (
    Allow,
    Deny,
    MutationApp,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
    RequireChecks,
)

# ci-bot is the CI system's account: it reports external checks (role ci).
app = MutationApp(
    directory={"alice": ["sre"], "bob": ["sre"], "carol": ["finance"], "ci-bot": ["ci"]}
)


@app.mutation("counter.add", on_stale="reject")
def add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Add ``payload.amount`` to the counter's ``value``."""
    return {**state, "value": state.get("value", 0) + payload["amount"]}


@add.inverse
def _subtract(
    before: dict[str, Any], after: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """Compensate an addition forward: add the opposite amount (``compensate --mode inverse``)."""
    return {"amount": -payload["amount"]}


@add.validator
def _amount_is_integer(state: dict[str, Any], payload: dict[str, Any]) -> None:
    amount = payload.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValueError(f"payload.amount must be an integer, got {amount!r}")


@app.mutation("limits.set", on_stale="reapprove")
def set_limit(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Set the account limit ``payload.name`` to ``payload.value``."""
    return {**state, payload["name"]: payload["value"]}


@set_limit.validator
def _limit_is_valid(state: dict[str, Any], payload: dict[str, Any]) -> None:
    if not isinstance(payload.get("name"), str) or not payload["name"]:
        raise ValueError("payload.name must be a non-empty string")
    value = payload.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"payload.value must be a non-negative integer, got {value!r}")


@app.mutation("flags.set", on_stale="revalidate")
def set_flag(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Turn the feature flag ``payload.flag`` on or off (``payload.enabled``)."""
    return {**state, payload["flag"]: bool(payload["enabled"])}


@app.mutation("release.set", supersede=True)
def set_release(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Deploy ``payload.version``; a newer release request ends the older ones still waiting."""
    return {**state, "version": payload["version"]}


@app.policy("counter.*")
def small_changes_only(ctx: PolicyContext) -> PolicyDecision:
    """Deny a counter change of more than 1000 at once."""
    amount = ctx.payload.get("amount", 0)
    if isinstance(amount, int) and abs(amount) > 1000:
        return Deny(f"amount {amount} is above the 1000 limit for a single change")
    return Allow()


@app.policy("limits.*")
def two_of_three(ctx: PolicyContext) -> PolicyDecision:
    """Every limit change needs two of alice, bob and carol."""
    return RequireApprovals(2, approvers={"alice", "bob", "carol"}, timeout=timedelta(days=7))


@app.policy("flags.*")
def frozen_flags(ctx: PolicyContext) -> PolicyDecision:
    """Deny flag changes on a state whose ``frozen`` is set."""
    if ctx.state.get("frozen"):
        return Deny("flags on this state are frozen")
    return Allow()


@app.mutation("release.deploy", on_stale="reject")
def deploy(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Deploy release ``payload.version``."""
    return {**state, "version": payload["version"]}


@deploy.validator
def _version_is_text(state: dict[str, Any], payload: dict[str, Any]) -> None:
    if not isinstance(payload.get("version"), str) or not payload["version"]:
        raise ValueError("payload.version must be a non-empty string")


@app.policy("release.deploy")
def ci_must_pass(ctx: PolicyContext) -> PolicyDecision:
    """A release waits for CI's ``ci`` and ``lint`` checks, reported by the ci role."""
    return RequireChecks("ci", "lint", roles={"ci"}, timeout=timedelta(hours=1))


@app.policy("release.set")
def one_sre(ctx: PolicyContext) -> PolicyDecision:
    """A release needs one sre (alice or bob)."""
    return RequireApprovals(1, roles={"sre"}, timeout=timedelta(days=1))


@app.mutation("maintenance.set", on_stale="reject")
def set_maintenance(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Turn the service's maintenance mode on or off (``{"on": true}``)."""
    return {**state, "maintenance": bool(payload.get("on", True))}


@app.policy("maintenance.*")
def maintenance_takes_the_service_down(ctx: PolicyContext) -> PolicyDecision:
    """A soft deny: an sre (alice or bob, not the requester) overrides it with a reason."""
    return Deny("maintenance mode takes the service down", level="soft", override_roles={"sre"})
