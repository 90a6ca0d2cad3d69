"""What a submit's signature covers: the change, and when and after what it may run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mutator.identity.envelope import payload_sha256
from mutator.identity.requests import request_payload_sha256, signed_payload
from mutator.models import BatchItem, SubmitRequestInput, submitted_request

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_plain_request_signs_its_payload_as_before() -> None:
    assert signed_payload("limits.set", {"max": 3}) == {"max": 3}


def test_a_batch_signs_its_items_in_order() -> None:
    items = [
        BatchItem(state_id="s1", mutation="m", payload={"a": 1}),
        BatchItem(state_id="s2", mutation="m", payload={"a": 2}, expected_version=4),
    ]
    assert signed_payload("batch", {}, items) == {
        "items": [
            {"state_id": "s1", "mutation": "m", "payload": {"a": 1}, "expected_version": None},
            {"state_id": "s2", "mutation": "m", "payload": {"a": 2}, "expected_version": 4},
        ]
    }


def test_after_and_not_before_are_signed_with_the_change() -> None:
    plus_two = timezone(timedelta(hours=2))
    signed = signed_payload(
        "limits.set", {"max": 3}, after=["r-1"], not_before=T0.astimezone(plus_two)
    )
    # The same instant in any offset signs the same bytes.
    assert signed == {
        "change": {"max": 3},
        "after": ["r-1"],
        "not_before": "2026-12-01T09:00:00+00:00",
    }
    assert signed_payload("limits.set", {"max": 3}, not_before=T0) == {
        "change": {"max": 3},
        "not_before": "2026-12-01T09:00:00+00:00",
    }


def test_a_request_hashes_what_its_requester_signed() -> None:
    submitted = SubmitRequestInput(
        request_id="r-2",
        state_id="s",
        mutation="limits.set",
        payload={"max": 3},
        requester="dave",
        after=["r-1"],
        not_before=T0,
    )
    request = submitted_request(submitted, T0)
    assert request_payload_sha256(request) == payload_sha256(
        signed_payload("limits.set", {"max": 3}, after=["r-1"], not_before=T0)
    )
    # Dropping the dependency in transit changes the hash: the signature no longer matches.
    request.after = []
    assert request_payload_sha256(request) != payload_sha256(
        signed_payload("limits.set", {"max": 3}, after=["r-1"], not_before=T0)
    )
