"""The envelope: its fields, its canonical bytes and the payload hash (RFC 8785)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mutator.identity.envelope import (
    Envelope,
    canonical_json,
    format_issued_at,
    make_envelope,
    new_nonce,
    payload_sha256,
)

NOW = datetime(2026, 11, 30, 19, 0, 0, tzinfo=UTC)
FIELDS = {
    "action": "approve",
    "request_id": "lim-1",
    "actor": "alice",
    "state_id": "acct-1",
    "mutation": "limits.set",
    "payload_sha256": payload_sha256({"name": "daily", "value": 500}),
    "base_version": 3,
    "comment": "looks right",
    "issued_at": "2026-11-30T19:00:00Z",
    "nonce": "0123456789abcdef0123456789abcdef",
}


def test_the_documented_example_payload_hash() -> None:
    # docs/security.md: printf '%s' '{"name":"daily","value":500}' | sha256sum
    expected = hashlib.sha256(b'{"name":"daily","value":500}').hexdigest()
    assert payload_sha256({"value": 500, "name": "daily"}) == expected


def test_signed_bytes_are_the_canonical_json_of_every_field() -> None:
    envelope = Envelope.model_validate(FIELDS)
    assert envelope.signed_bytes() == json.dumps(
        FIELDS, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_make_envelope_fills_hash_time_and_a_fresh_nonce() -> None:
    first = make_envelope(
        action="submit",
        request_id="r1",
        actor="carol",
        state_id="s1",
        mutation="counter.add",
        payload={"amount": 1},
        base_version=None,
        now=NOW.astimezone(timezone(timedelta(hours=2))),
    )
    second = first.model_copy(update={"nonce": new_nonce()})
    assert first.issued_at == "2026-11-30T19:00:00Z"
    assert first.payload_sha256 == payload_sha256({"amount": 1})
    assert len(first.nonce) == 32
    assert first.nonce != second.nonce
    assert first.base_version is None
    assert b'"base_version":null' in first.signed_bytes()


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="issued_at needs a time zone"):
        format_issued_at(datetime(2026, 1, 1))


def refused(**change: Any) -> str:
    fields = {**FIELDS, **change}
    with pytest.raises(ValidationError) as caught:
        Envelope.model_validate({k: v for k, v in fields.items() if v is not ...})
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (
            {"action": "delete"},
            "action",
            "'submit', 'approve', 'reject', 'cancel', 'check' or 'override'",
        ),
        ({"payload_sha256": "ABC"}, "payload_sha256", "64 lowercase hex digits"),
        ({"payload_sha256": "A" * 64}, "payload_sha256", "64 lowercase hex digits"),
        ({"issued_at": "2026-11-30T19:00:00+01:00"}, "issued_at", "UTC RFC 3339"),
        ({"issued_at": "2026-11-30 19:00:00Z"}, "issued_at", "UTC RFC 3339"),
        ({"issued_at": "2026-02-30T19:00:00Z"}, "issued_at", "day is out of range"),
        ({"nonce": "abc"}, "nonce", ">= 128 random bits"),
        ({"nonce": "0123456789abcdef012345"}, "nonce", "hex nonce must be lowercase"),
        ({"nonce": "not/base64url+chars=========="}, "nonce", ">= 128 random bits"),
        ({"base_version": -1}, "base_version", "greater than or equal to 0"),
        ({"base_version": "3"}, "base_version", "valid integer"),
        ({"base_version": True}, "base_version", "valid integer"),
        ({"request_id": ""}, "request_id", "at least 1 character"),
        ({"actor": ...}, "actor", "Field required"),
        ({"comment": ...}, "comment", "Field required"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
    ],
)
def test_each_malformed_field_is_named(change: dict[str, Any], field: str, problem: str) -> None:
    message = refused(**change)
    assert field in message
    assert problem in message


def test_base64url_nonces_are_accepted() -> None:
    envelope = Envelope.model_validate({**FIELDS, "nonce": "Zm9vYmFyLWJhei1xdXV4LTEyMw"})
    assert envelope.nonce == "Zm9vYmFyLWJhei1xdXV4LTEyMw"


def test_round_trip_through_json_keeps_the_signed_bytes() -> None:
    envelope = Envelope.model_validate(FIELDS)
    assert Envelope.from_json(envelope.model_dump_json()).signed_bytes() == envelope.signed_bytes()
    assert Envelope.from_json(json.loads(envelope.model_dump_json())) == envelope


def test_a_payload_without_canonical_form_is_refused() -> None:
    with pytest.raises(ValueError, match="no RFC 8785 canonical JSON form"):
        payload_sha256({"big": 2**60})
    with pytest.raises(ValueError, match="no RFC 8785 canonical JSON form"):
        canonical_json({"x": float("nan")})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_the_payload_hash_ignores_key_order_and_survives_a_json_round_trip(
    payload: dict[str, Any],
) -> None:
    reordered = dict(reversed(list(payload.items())))
    assert payload_sha256(reordered) == payload_sha256(payload)
    assert payload_sha256(json.loads(json.dumps(payload))) == payload_sha256(payload)


def test_the_documented_worked_example() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[3] / "docs" / "security.md").read_text()
    envelope_json = docs.split("cat > envelope.json <<'JSON'\n", 1)[1].split("JSON\n", 1)[0]
    canonical = docs.split("`envelope.canonical` then holds\n\n```\n", 1)[1].split("\n```", 1)[0]
    envelope = Envelope.from_json(envelope_json)
    assert envelope.signed_bytes() == canonical.encode()
    assert envelope.payload_sha256 == payload_sha256({"name": "daily", "value": 500})
