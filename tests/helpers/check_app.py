"""The app of the external-check tests: checks alone, checks with approvals, by role or id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireApprovals, RequireChecks

DIRECTORY = {
    "alice": ["sre"],
    "bob": ["sre"],
    "ci-bot": ["ci"],
    "scanner": ["ci"],
    "dave": ["dev"],
}


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def ci_and_scan(ctx: PolicyContext) -> PolicyDecision:
    return RequireChecks("ci", "security-scan", roles={"ci"}, timeout=timedelta(hours=1))


def ci_by_bot(ctx: PolicyContext) -> PolicyDecision:
    return RequireChecks("ci", reporters={"ci-bot"}, timeout=timedelta(minutes=10))


def one_sre(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, roles={"sre"}, timeout=timedelta(hours=2))


def build_check_app(**options: Any) -> MutationApp:
    """``checked.add``: ci and security-scan (role ci); ``both.add``: ci (ci-bot) and an SRE;
    ``counter.add``: nothing asked."""
    app = MutationApp(directory=options.pop("directory", DIRECTORY), **options)
    app.mutation("checked.add")(_add)
    app.mutation("both.add")(_add)
    app.mutation("counter.add")(_add)
    app.policy("checked.add")(ci_and_scan)
    app.policy("both.add")(ci_by_bot)
    app.policy("both.add")(one_sre)
    return app


check_app = build_check_app()
