"""An app whose handlers emit side effects, and effect handlers that remember each call."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from mutator import (
    EffectEvent,
    Effects,
    MutationApp,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
)

app = MutationApp(directory={"alice": ["sre"], "bob": ["sre"]})

# Calls of the effect handlers, by (handler, event id); the flaky one fails at first.
calls: Counter[tuple[str, str]] = Counter()
calls_lock = threading.Lock()
FLAKY_FAILURES = 2


@app.mutation("shop.sell")
def sell(state: dict[str, Any], payload: dict[str, Any], effects: Effects) -> dict[str, Any]:
    effects.emit("stock.sold", {"sku": payload["sku"]})
    if payload.get("invoice"):
        effects.emit("invoice.due", {"sku": payload["sku"], "amount": payload["invoice"]})
    return {**state, "sold": state.get("sold", 0) + 1}


@app.mutation("shop.reviewed_sell", on_stale="reapprove")
def reviewed_sell(
    state: dict[str, Any], payload: dict[str, Any], effects: Effects
) -> dict[str, Any]:
    return sell(state, payload, effects)


@app.policy("shop.reviewed_*")
def two_sres(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(2, roles={"sre"})


@app.mutation("shop.explode")
def explode(state: dict[str, Any], payload: dict[str, Any], effects: Effects) -> dict[str, Any]:
    effects.emit("stock.sold", {"sku": "never"})
    raise RuntimeError("the till is jammed")


@app.mutation("shop.bad_event")
def bad_event(state: dict[str, Any], payload: dict[str, Any], effects: Effects) -> dict[str, Any]:
    effects.emit("stock.sold", {"when": object()})
    return {**state, "sold": 1}


@app.mutation("shop.plain")
def plain(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "plain": True}


def _count(handler: str, event: EffectEvent) -> int:
    with calls_lock:
        calls[(handler, event.event_id)] += 1
        return calls[(handler, event.event_id)]


@app.effect("stock.sold")
def on_sold(event: EffectEvent) -> None:
    _count("on_sold", event)


@app.effect("invoice.due")
async def flaky_invoice(event: EffectEvent) -> None:
    if _count("flaky_invoice", event) <= FLAKY_FAILURES:
        raise ConnectionError("the billing service is down")
