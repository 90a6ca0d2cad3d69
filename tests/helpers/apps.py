"""The MutationApp the integration tests run: one mutation per behaviour under test."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from mutator import Allow, Deny, MutationApp, PolicyContext, PolicyDecision, RequireApprovals

# Lets a test hold an execution inside the handler (to move the state underneath it).
execution_gate = threading.Event()
execution_gate.set()


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def _check_amount(state: dict[str, Any], payload: dict[str, Any]) -> None:
    amount = payload.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValueError(f"payload.amount must be an integer, got {amount!r}")
    if state.get("value", 0) + amount < 0:
        raise ValueError("the counter cannot go below zero")


def explode(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the handler blew up")


def slow_add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    execution_gate.wait(timeout=30)
    return _add(state, payload)


def limit(ctx: PolicyContext) -> PolicyDecision:
    if abs(ctx.payload.get("amount", 0)) > 1000:
        return Deny("amount above 1000")
    return Allow()


def two_of_three(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(2, approvers={"alice", "bob", "carol"})


def no_big_values(ctx: PolicyContext) -> PolicyDecision:
    if ctx.state.get("value", 0) >= 100:
        return Deny("value is already at 100 or more")
    return Allow()


def sre_role(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, roles={"sre"})


def finance_person(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"carol"})


def self_ok(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"alice", "bob"}, allow_self_approval=True)


def quick_deadline(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(1, approvers={"bob"}, timeout=timedelta(hours=1))


def deny_all(ctx: PolicyContext) -> PolicyDecision:
    return Deny("denied by test policy")


class ExecutionProbe:
    """Measures, from inside the handler, how many executions run at the same instant."""

    def __init__(self, hold_seconds: float = 0.0, gated: set[str] | None = None) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.total_active = 0
        self.peak_total = 0
        self.peak_per_state: dict[str, int] = {}
        self.calls: list[tuple[str, int]] = []  # (request marker, state value seen)
        self.hold_seconds = hold_seconds
        self.gated: set[str] = gated or set()  # markers that wait for execution_gate

    def __call__(self, state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        state_key = payload["state"]
        with self.lock:
            self.total_active += 1
            self.active[state_key] = self.active.get(state_key, 0) + 1
            self.peak_total = max(self.peak_total, self.total_active)
            self.peak_per_state[state_key] = max(
                self.peak_per_state.get(state_key, 0), self.active[state_key]
            )
            self.calls.append((payload["marker"], state.get("value", 0)))
        try:
            if payload["marker"] in self.gated:
                execution_gate.wait(timeout=30)
            if self.hold_seconds:
                threading.Event().wait(self.hold_seconds)
            return {**state, "value": state.get("value", 0) + 1, "last": payload["marker"]}
        finally:
            with self.lock:
                self.total_active -= 1
                self.active[state_key] -= 1


def build_app(probe: ExecutionProbe) -> MutationApp:
    """The test app, whose ``probe.add`` mutation runs ``probe``: each test that reads a probe
    builds its own app around a fresh one, so no test sees another's executions."""
    app = MutationApp(
        directory={"alice": ["sre"], "bob": ["sre"], "carol": ["finance"], "dave": ["dev"]}
    )
    app.mutation("counter.add", on_stale="reject")(_add).validator(_check_amount)
    app.mutation("reviewed.add", on_stale="reject")(_add).validator(_check_amount)
    app.mutation("reapproved.add", on_stale="reapprove")(_add).validator(_check_amount)
    app.mutation("revalidated.add", on_stale="revalidate")(_add).validator(_check_amount)
    app.mutation("roles.add")(_add)
    app.mutation("self.add")(_add)
    app.mutation("quick.add")(_add)
    app.mutation("autore.add", on_stale="reapprove")(_add)
    app.mutation("denied.add")(_add)
    app.mutation("broken.explode")(explode)
    app.mutation("slow.add")(slow_add)
    app.policy("counter.*")(limit)
    app.policy("re*.add")(two_of_three)
    app.policy("revalidated.add")(no_big_values)
    app.policy("roles.add")(sre_role)
    app.policy("roles.add")(finance_person)
    app.policy("self.add")(self_ok)
    app.policy("quick.add")(quick_deadline)
    app.policy("denied.*")(deny_all)
    app.mutation("probe.add")(probe)
    return app


# The app of tests that read no probe; its own probe is never read.
app = build_app(ExecutionProbe())
