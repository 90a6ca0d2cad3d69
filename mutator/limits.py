"""What a request may carry, checked at the door: sizes, JSON (RFC 8259) and text.

Temporal refuses any payload over 2 MB (``PAYLOADS_TOO_LARGE``) and warns over 512 KiB; a
request travels as one payload (its workflow input, every activity that carries the request,
the admission answer), together with its record. Refused here, a payload that is too large
or not JSON never starts a workflow. Imports neither Temporal nor the store, so every
command and the worker can use it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mutator.errors import MutatorInputError

KIB = 1024
# One request's payload (or one batch item's). The request record that carries it, with
# its decisions and approvals, then stays under Temporal's 512 KiB warning threshold.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * KIB
# Every item payload of a batch together: the batch travels as one request record.
DEFAULT_MAX_BATCH_BYTES = 384 * KIB
# The request model's own ceiling (SubmitRequestInput.items).
MAX_BATCH_ITEMS = 100
# Objects and arrays inside one payload, the payload object itself being level 1.
MAX_JSON_DEPTH = 64
# Free text a person writes: a request's reason, an approval's comment, a rejection's reason.
MAX_TEXT_CHARS = 4000
# The store keeps versions in 32-bit integer columns (PostgreSQL INTEGER).
MAX_VERSION = 2**31 - 1
# Actors, request and update ids fit the store's 200-character columns.
MAX_ID_CHARS = 200

ENV_MAX_PAYLOAD_BYTES = "MUTATOR_MAX_PAYLOAD_BYTES"
ENV_MAX_BATCH_BYTES = "MUTATOR_MAX_BATCH_BYTES"
ENV_MAX_BATCH_ITEMS = "MUTATOR_MAX_BATCH_ITEMS"
# Temporal's own hard limit: a limit above it would only move the failure into the workflow.
TEMPORAL_BLOB_LIMIT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class PayloadLimits:
    """Size limits of one request.

    The client checks them before starting anything, and the worker refuses a request over its
    own limits as ``validation_failed``.

    Attributes:
        max_payload_bytes: The most bytes of one payload, as compact JSON.
        max_batch_bytes: The most bytes of a batch's payloads together.
        max_batch_items: The most items of a batch.
    """

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    max_batch_items: int = MAX_BATCH_ITEMS

    def __post_init__(self) -> None:
        """Refuse limits outside what Temporal can carry.

        Raises:
            MutatorInputError: A limit is not an integer between 1 and its ceiling.
        """
        for name, ceiling in (
            ("max_payload_bytes", TEMPORAL_BLOB_LIMIT_BYTES),
            ("max_batch_bytes", TEMPORAL_BLOB_LIMIT_BYTES),
            ("max_batch_items", MAX_BATCH_ITEMS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
                raise MutatorInputError(f"{name}: must be an integer 1-{ceiling}, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PayloadLimits:
        """The defaults, overridden by the environment.

        The variables are MUTATOR_MAX_PAYLOAD_BYTES, MUTATOR_MAX_BATCH_BYTES and
        MUTATOR_MAX_BATCH_ITEMS.

        Args:
            environ: The variables to read; ``os.environ`` by default.

        Raises:
            MutatorInputError: A variable is not an integer in range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for field, var in (
            ("max_payload_bytes", ENV_MAX_PAYLOAD_BYTES),
            ("max_batch_bytes", ENV_MAX_BATCH_BYTES),
            ("max_batch_items", ENV_MAX_BATCH_ITEMS),
        ):
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                values[field] = int(raw)
            except ValueError:
                raise MutatorInputError(f"{var}: must be an integer, got {raw!r}") from None
        try:
            return cls(**values)
        except MutatorInputError as exc:
            raise MutatorInputError(f"{exc} (from the environment)") from None

    def check_payload(self, payload: object, field: str = "payload") -> int:
        """Refuse a payload that is not a JSON object or is over the limit; its size."""
        size = json_size(payload, field)
        if size > self.max_payload_bytes:
            raise MutatorInputError(
                f"{field}: {size} bytes is over the limit of {self.max_payload_bytes} bytes "
                f"per payload ({ENV_MAX_PAYLOAD_BYTES}); keep large data elsewhere and pass "
                "its id"
            )
        return size

    def check_item_count(self, count: int) -> None:
        """Refuse a batch of more than ``max_batch_items`` items.

        Raises:
            MutatorInputError: Too many items.
        """
        if count > self.max_batch_items:
            raise MutatorInputError(
                f"items: {count} items is over the limit of {self.max_batch_items} "
                f"per batch ({ENV_MAX_BATCH_ITEMS})"
            )

    def check_batch(self, payloads: list[object]) -> None:
        """Refuse a batch with too many items, or a payload or total over its limit.

        Raises:
            MutatorInputError: Which limit, and by how much.
        """
        self.check_item_count(len(payloads))
        total = sum(
            self.check_payload(payload, f"items.{index}.payload")
            for index, payload in enumerate(payloads)
        )
        if total > self.max_batch_bytes:
            raise MutatorInputError(
                f"items: the payloads total {total} bytes, over the limit of "
                f"{self.max_batch_bytes} bytes per batch ({ENV_MAX_BATCH_BYTES}); "
                "split the batch"
            )

    def payload_refusal(self, payload: object, field: str = "payload") -> str | None:
        """The worker's check: why the payload is refused, or None."""
        try:
            self.check_payload(payload, field)
        except MutatorInputError as exc:
            return str(exc)
        return None

    def batch_refusal(self, payloads: list[object]) -> str | None:
        """The worker's check of a batch: why its payloads are refused, or None."""
        try:
            self.check_batch(payloads)
        except MutatorInputError as exc:
            return str(exc)
        return None


def json_size(payload: object, field: str) -> int:
    """Bytes of ``payload`` as compact UTF-8 JSON, once checked to be a JSON object.

    It must be one any JSON parser and the store accept (RFC 8259: finite numbers, valid
    Unicode; bounded depth; no NUL, which PostgreSQL text and JSONB cannot hold).

    Raises:
        MutatorInputError: ``payload`` is not such an object; the message starts with ``field``.
    """
    if not isinstance(payload, dict):
        raise MutatorInputError(f"{field}: must be a JSON object, got {type(payload).__name__}")
    check_json_value(payload, field)
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(encoded.encode("utf-8"))


def check_json_value(value: object, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walks without recursion, so a value nested 100,000 levels deep is refused, not fatal."""
    stack: list[tuple[object, str, int]] = [(value, field, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth > max_depth:
            raise MutatorInputError(
                f"{field}: nested deeper than {max_depth} levels of objects and arrays"
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise MutatorInputError(
                        f"{where}: object keys must be strings, got {type(key).__name__} {key!r}"
                    )
                check_string(key, f"{where} (key {key[:40]!r})")
                stack.append((child, f"{where}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}.{index}", depth + 1) for index, child in enumerate(item))
        elif isinstance(item, str):
            check_string(item, where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise MutatorInputError(
                    f"{where}: {item!r} is not a JSON number (RFC 8259 has no NaN or Infinity)"
                )
        elif item is not None and not isinstance(item, bool | int):
            raise MutatorInputError(
                f"{where}: a {type(item).__name__} is not a JSON value "
                "(use objects, arrays, strings, numbers, true, false, null)"
            )


def check_string(text: str, field: str) -> None:
    """A string any JSON parser and the store accept: no NUL, no lone surrogate."""
    if "\x00" in text:
        raise MutatorInputError(f"{field}: contains a NUL character (\\u0000), not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise MutatorInputError(
            f"{field}: contains a lone surrogate \\u{ord(bad):04x} at position {exc.start}, "
            "which is not valid Unicode"
        ) from None


def check_text(text: str, field: str, *, max_chars: int = MAX_TEXT_CHARS) -> None:
    """Free text: a reason or a comment."""
    if not isinstance(text, str):
        raise MutatorInputError(f"{field}: must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise MutatorInputError(f"{field}: {len(text)} characters is over the limit of {max_chars}")
    check_string(text, field)


def check_name(text: str, field: str) -> None:
    """An actor or an id: non-empty, printable, at most MAX_ID_CHARS characters."""
    if not isinstance(text, str):
        raise MutatorInputError(f"{field}: must be a string, got {type(text).__name__}")
    if not text.strip():
        raise MutatorInputError(f"{field}: must not be empty")
    check_text(text, field, max_chars=MAX_ID_CHARS)
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        raise MutatorInputError(
            f"{field}: contains the unprintable character {bad!r}; use printable text"
        )


def check_optional_id(value: str | None, field: str) -> None:
    """An id the caller may leave out (None: one is made up), but not give empty."""
    if value is None:
        return
    if not value:
        raise MutatorInputError(f"{field}: must not be empty (leave it out to get a new id)")
    check_name(value, field)


def check_submitter(actor: str, reason: str, request_id: str | None) -> None:
    """Check a submission's actor, reason and request id.

    Raises:
        MutatorInputError: One is empty, too long or holds characters it may not.
    """
    check_name(actor, "actor")
    check_text(reason, "reason")
    check_optional_id(request_id, "request_id")


def check_version(version: int | None, field: str) -> None:
    """Check an expected version is in range.

    Raises:
        MutatorInputError: It is negative or too large.
    """
    if version is not None and not 0 <= version <= MAX_VERSION:
        raise MutatorInputError(f"{field}: must be 0-{MAX_VERSION}, got {version}")


def parse_json_object(text: str, field: str) -> dict[str, Any]:
    """Parse JSON text into an object, checked as ``check_json_value`` does."""
    value = load_json(text, field)
    if not isinstance(value, dict):
        raise MutatorInputError(f"{field} must be a JSON object, got {type(value).__name__}")
    check_json_value(value, field)
    return value


def load_json(text: str, field: str) -> object:
    """Parse JSON text as RFC 8259 does.

    NaN and Infinity are not JSON; text nested too deeply for the parser is refused, not a
    crash.

    Raises:
        MutatorInputError: The text is not JSON; the message starts with ``field``.
    """
    try:
        value: object = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MutatorInputError(f"{field} is not valid JSON: {exc}") from None
    except _NotJson as exc:
        raise MutatorInputError(
            f"{field} is not valid JSON: {exc} is not a JSON number (RFC 8259 has no "
            "NaN or Infinity)"
        ) from None
    except RecursionError:
        raise MutatorInputError(
            f"{field}: nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays"
        ) from None
    return value


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> object:
    raise _NotJson(name)


def positive_seconds(value: object, label: str) -> float:
    """``value`` as a finite number of seconds > 0; else MutatorInputError, led by ``label``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 < number < math.inf:
        raise MutatorInputError(f"{label} must be a number of seconds > 0, got {value!r}")
    return number


DEFAULT_MAX_CONCURRENT_MUTATIONS = 10


def validate_max_concurrent_mutations(value: object) -> int:
    """A worker's ``max_concurrent_mutations`` as an integer.

    Raises:
        MutatorInputError: It is not an integer >= 1.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MutatorInputError(f"max_concurrent_mutations must be an integer >= 1, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise MutatorInputError(
            f"max_concurrent_mutations must be an integer >= 1, got {value!r}"
        ) from None
    if number < 1:
        raise MutatorInputError(f"max_concurrent_mutations must be an integer >= 1, got {number}")
    return number


def validate_heartbeat_timeout(value: object) -> float:
    """Seconds, a number > 0 (a few seconds: how soon a dead worker is noticed)."""
    return positive_seconds(value, "heartbeat_timeout")
