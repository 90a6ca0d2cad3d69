"""The app of the policy-level tests: advisory, soft, soft with approvals, async policies."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from mutator import (
    Abstain,
    Allow,
    Deny,
    MutationApp,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
)

DIRECTORY = {
    "alice": ["sre"],
    "bob": ["sre"],
    "olga": ["oncall"],
    "dave": ["dev"],
    "mallory": [],
}


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def large_change(ctx: PolicyContext) -> PolicyDecision:
    return Deny(f"amount {ctx.payload['amount']} is large", level="advisory")


def business_hours(ctx: PolicyContext) -> PolicyDecision:
    return Deny("outside business hours", level="soft", override_roles={"oncall"})


def one_sre(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, roles={"sre"}, timeout=timedelta(hours=1))


async def ticket_system(ctx: PolicyContext) -> PolicyDecision:
    # An external service that never answers: the timeout decides.
    await asyncio.Event().wait()
    return Allow()


async def opa(ctx: PolicyContext) -> PolicyDecision:
    await asyncio.sleep(0)
    return Deny("opa: amount over 100") if ctx.payload["amount"] > 100 else Abstain()


def build_policy_app(**options: Any) -> MutationApp:
    """``warned.add``: advisory; ``soft.add``: soft (oncall overrides); ``both.add``: soft and
    one SRE; ``closed.add``/``open.add``: an async policy that hangs, fail closed / open;
    ``opa.add``: an async policy that answers."""
    app = MutationApp(directory=DIRECTORY, **options)
    for name in ("warned.add", "soft.add", "both.add", "closed.add", "open.add", "opa.add"):
        app.mutation(name)(_add)
    app.policy("warned.add")(large_change)
    app.policy("soft.add")(business_hours)
    app.policy("both.add")(business_hours)
    app.policy("both.add")(one_sre)
    app.policy("closed.add", timeout=timedelta(milliseconds=200))(ticket_system)
    app.policy("open.add", timeout=timedelta(milliseconds=200), fail_open=True)(ticket_system)
    app.policy("opa.add", timeout=timedelta(seconds=5))(opa)
    return app


policy_app = build_policy_app()
