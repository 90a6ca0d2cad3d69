"""The door's checks on their own: sizes, RFC 8259 JSON, text, and their settings."""

from __future__ import annotations

import pytest

from mutator.errors import MutatorInputError
from mutator.limits import (
    PayloadLimits,
    check_name,
    check_text,
    json_size,
    load_json,
    parse_json_object,
)


def test_size_is_compact_utf8_json() -> None:
    assert json_size({"a": "é"}, "payload") == len('{"a":"é"}'.encode())
    limits = PayloadLimits(max_payload_bytes=10)
    assert limits.check_payload({"a": "é"}) == 10
    with pytest.raises(MutatorInputError, match="payload: 11 bytes is over the limit of 10"):
        limits.check_payload({"a": "éx"})


def test_settings_from_the_environment() -> None:
    assert PayloadLimits.from_env({}) == PayloadLimits()
    assert PayloadLimits.from_env({"MUTATOR_MAX_BATCH_BYTES": " 1000 "}).max_batch_bytes == 1000
    bad = [
        ({"MUTATOR_MAX_PAYLOAD_BYTES": "lots"}, "MUTATOR_MAX_PAYLOAD_BYTES: must be an integer"),
        ({"MUTATOR_MAX_PAYLOAD_BYTES": "0"}, "max_payload_bytes: must be an integer 1-2097152"),
        ({"MUTATOR_MAX_BATCH_BYTES": "3000000"}, "max_batch_bytes: must be an integer"),
        ({"MUTATOR_MAX_BATCH_ITEMS": "101"}, "max_batch_items: must be an integer 1-100"),
    ]
    for env, message in bad:
        with pytest.raises(MutatorInputError, match=message):
            PayloadLimits.from_env(env)


def test_json_text_follows_rfc_8259() -> None:
    assert parse_json_object('{"a": [1, 2.5, "x", null, true]}', "--payload") == {
        "a": [1, 2.5, "x", None, True]
    }
    refused = {
        '{"a": NaN}': "NaN is not a JSON number",
        '{"a": 1e400}': "--payload.a: inf is not a JSON number",
        '{"a": "\\udc00"}': "--payload.a: contains a lone surrogate \\udc00",
        '{"a\\u0000": 1}': "contains a NUL character",
        '{"a": ' * 65 + "1" + "}" * 65: "nested deeper than 64 levels",
        "[" * 100_000 + "]" * 100_000: "nested deeper than 64 levels",
        "[1]": "--payload must be a JSON object, got list",
    }
    for text, message in refused.items():
        with pytest.raises(MutatorInputError, match=message.replace("\\", "\\\\")):
            parse_json_object(text, "--payload")
    assert load_json('[{"a": ' * 40 + "1" + "}]" * 40, "FILE") is not None


def test_text_and_names() -> None:
    check_text("", "comment")
    check_text("x" * 4000, "comment")
    with pytest.raises(MutatorInputError, match="comment: 4001 characters"):
        check_text("x" * 4001, "comment")
    for bad, message in [
        ("", "actor: must not be empty"),
        ("  ", "actor: must not be empty"),
        ("a\nb", "actor: contains the unprintable character '\\\\n'"),
        ("a" * 201, "actor: 201 characters is over the limit of 200"),
    ]:
        with pytest.raises(MutatorInputError, match=message):
            check_name(bad, "actor")
