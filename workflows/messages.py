"""Turning whatever a signal or an update brought into its input model, or a refusal.

Every handler takes ``*args: Any``: when the number of payloads differs from a handler's
parameters, the SDK drops the type hints and calls the handler with that many arguments,
so a fixed signature turns one extra ``--input`` into a ``TypeError`` that fails the
workflow task on every retry. With ``*args`` the SDK decodes each payload as plain JSON
and this module checks it, so a bad message becomes a refusal that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from mutator.contracts import ERR_INVALID_INPUT, MAX_ACTOR_CHARS
    from mutator.message_payloads import UndecodablePayload

# What a refused attempt copies into the record, at most.
MAX_RECORDED_CHARS = 1000
# Ids in internal signals (workflow ids, state ids): a queued owner is carried over
# continue-as-new, so even ids are bounded.
MAX_ID_CHARS = 1000
ID_FIELDS = ("owner", "request_id", "state_id")

M = TypeVar("M", bound=BaseModel)


class BadMessage(ValueError):
    """The message cannot be read as its handler's input; the text says which field and why."""


def parse_message(
    model: type[M],
    args: Sequence[object],
    *,
    max_chars: Mapping[str, int] | None = None,
) -> M:
    """``args`` as one ``model``; raises BadMessage naming the field and the problem.

    ``max_chars``: the longest text each named field may hold.
    """
    fields = ", ".join(model.model_fields) or "none"
    if len(args) != 1:
        raise BadMessage(
            f"input: expected one JSON object (fields: {fields}), got {len(args)} values"
        )
    value = args[0]
    if not isinstance(value, dict):
        raise BadMessage(
            f"input: expected a JSON object (fields: {fields}), got {_json_kind(value)}"
        )
    unknown = [str(key) for key in value if key not in model.model_fields]
    if unknown:
        names = ", ".join(repr(clip(name, 50)) for name in unknown[:5])
        raise BadMessage(f"{names}: unknown field (expected: {fields})")
    try:
        parsed = model.model_validate(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        # A location may hold a key the sender chose: clipped like everything else.
        where = clip(".".join(str(part) for part in error["loc"]), 200) or "input"
        raise BadMessage(f"{where}: {clip(error['msg'], 300)}") from None
    for name, limit in (max_chars or {}).items():
        text = getattr(parsed, name)
        if isinstance(text, str) and len(text) > limit:
            raise BadMessage(f"{name}: at most {limit} characters, got {len(text)}")
    return parsed


def update_message(
    model: type[M], args: Sequence[object], *, max_chars: Mapping[str, int] | None = None
) -> M:
    """An update's input, or the ApplicationError its caller gets at once."""
    try:
        return parse_message(model, args, max_chars=max_chars)
    except BadMessage as exc:
        raise ApplicationError(str(exc), type=ERR_INVALID_INPUT, non_retryable=True) from None


def internal_message(model: type[M], args: Sequence[object], signal: str) -> M | None:
    """An internal signal's input, or None when it is malformed.

    Only Mutator sends these, so a malformed one is ignored with one log line: there is
    nobody else to tell.
    """
    limits = {name: MAX_ID_CHARS for name in ID_FIELDS if name in model.model_fields}
    try:
        return parse_message(model, args, max_chars=limits)
    except BadMessage as exc:
        workflow.logger.warning(
            "%s ignored a malformed %s signal: %s", workflow.info().workflow_id, signal, exc
        )
        return None


def claimed_actor(args: Sequence[object]) -> str:
    """Who a refused message says it is from, clipped for the record ("" if it says nothing)."""
    first = args[0] if args else None
    actor = first.get("actor") if isinstance(first, dict) else None
    return clip(actor, MAX_ACTOR_CHARS) if isinstance(actor, str) else ""


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, UndecodablePayload):
        return f"a payload that cannot be decoded ({value.encoding}: {value.error})"
    return f"a value of type {type(value).__name__}"
