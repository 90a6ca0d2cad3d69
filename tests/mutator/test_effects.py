"""The side-effect API a user writes against: ``effects.emit`` and ``@app.effect``.

Bad input is refused where it is written: a bad type at registration, a bad event in the
handler (which then fails the request: its change is not applied).
"""

from __future__ import annotations

from typing import Any

import pytest

from mutator import EffectEvent, Effects, MutationApp
from mutator.activities.outcomes import HandlerFailed, change_for
from mutator.effects import MAX_EVENTS_PER_CHANGE, check_effect_type, takes_effects


@pytest.mark.parametrize("bad", ["", " ", "1st", "has space", "a" * 91, "é.x", None, 3])
def test_app_effect_refuses_an_empty_or_invalid_type(bad: Any) -> None:
    app = MutationApp()
    with pytest.raises(ValueError, match="is not valid: 1 to 90 characters, a letter first"):
        app.effect(bad)
    assert app.effect_handlers.by_type == {}


@pytest.mark.parametrize("good", ["a", "invoice.sent", "Stock_Level-low:eu", "x" * 90])
def test_valid_types(good: str) -> None:
    assert check_effect_type(good) == good


def test_app_effect_refuses_a_non_function_and_a_handler_registered_twice() -> None:
    app = MutationApp()

    def on_sent(event: EffectEvent) -> None:
        return None

    app.effect("invoice.sent")(on_sent)
    with pytest.raises(ValueError, match="registered twice for 'invoice.sent'"):
        app.effect("invoice.sent")(on_sent)
    with pytest.raises(ValueError, match="decorates a function, got str"):
        app.effect("invoice.sent")("not a function")  # type: ignore[arg-type]
    assert app.effect_handlers.names("invoice.sent") == [f"{__name__}.{on_sent.__qualname__}"]
    assert app.effect_handlers.names("other") == []


@pytest.mark.parametrize(
    ("type", "payload", "message"),
    [
        ("", {}, "effect type '' is not valid"),
        ("bad type", {}, "effect type 'bad type' is not valid"),
        ("ok", ["a", "list"], "effect 'ok': the payload must be a dict, got list"),
        ("ok", {"at": object()}, "effect 'ok': the payload is not JSON"),
        ("ok", {"x": float("nan")}, "effect 'ok': the payload is not JSON"),
        ("ok", {"big": "x" * 70_000}, "over the limit of 65536"),
    ],
)
def test_emit_refuses_a_bad_event(type: str, payload: Any, message: str) -> None:
    effects = Effects("m")
    with pytest.raises(ValueError, match=message):
        effects.emit(type, payload)
    assert effects.events == []


def test_emit_copies_the_payload_and_bounds_the_count() -> None:
    effects = Effects("m")
    payload = {"n": [1]}
    effects.emit("ok", payload)
    payload["n"].append(2)
    effects.emit("ok")
    assert [(e.type, e.payload) for e in effects.events] == [("ok", {"n": [1]}), ("ok", {})]
    for _ in range(MAX_EVENTS_PER_CHANGE - 2):
        effects.emit("ok")
    with pytest.raises(ValueError, match="a change emits at most 100 events"):
        effects.emit("ok")


def test_a_handler_takes_effects_by_its_third_parameter_plain_ones_run_unchanged() -> None:
    app = MutationApp()

    @app.mutation("plain")
    def plain(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return {**state, **payload}

    @app.mutation("emitting")
    def emitting(state: dict[str, Any], payload: dict[str, Any], fx: Effects) -> dict[str, Any]:
        fx.emit("done", payload)
        return state

    assert (plain.emits, emitting.emits) == (False, True)
    assert takes_effects(lambda *args: {}) is True
    assert takes_effects(lambda state, payload: {}) is False
    # Called directly (a test of the user's own), a handler that emits gets a collector.
    assert plain({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert emitting({"a": 1}, {"b": 2}) == {"a": 1}
    change = change_for(emitting, {"b": 2})
    assert change({"a": 1}) == {"a": 1}
    assert [(e.type, e.payload) for e in change.events()] == [("done", {"b": 2})]
    assert change_for(plain, {}).emitted() is None


def test_a_bad_event_in_the_handler_fails_the_change() -> None:
    app = MutationApp()

    @app.mutation("bad")
    def bad(state: dict[str, Any], payload: dict[str, Any], fx: Effects) -> dict[str, Any]:
        fx.emit("ok", {"at": {1, 2}})
        return state

    with pytest.raises(HandlerFailed, match="bad raised ValueError: effect 'ok': the payload"):
        change_for(bad, {})({})
