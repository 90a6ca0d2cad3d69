"""Notifications, pure: the webhook settings, which event a status is, what it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from mutator.errors import MutatorInputError
from mutator.gates import Gate, GateKind, GateStatus
from mutator.lifecycle.notifications import (
    approve_command,
    eligible_approvers,
    event_type,
    request_event_data,
)
from mutator.models import (
    Approval,
    ApprovalRequirement,
    MutationRequest,
    PendingReason,
    Rejection,
    RejectionCode,
    RequestStatus,
)
from mutator.notifications import WebhookEvent, redact_url, webhook_config
from mutator.overrides import OverrideRequirement

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def request(status: RequestStatus, **fields: object) -> MutationRequest:
    return MutationRequest.model_validate(
        {
            "request_id": "req-1",
            "state_id": "acct-1",
            "mutation": "limits.set",
            "payload": {"limit": 5},
            "requester": "dave",
            "status": status,
            "created_at": NOW,
            "updated_at": NOW,
            **fields,
        }
    )


def test_a_config_needs_an_http_url_and_a_standard_secret() -> None:
    config = webhook_config(" https://hooks.example.com/m ", SECRET)
    assert config is not None
    assert config.url == "https://hooks.example.com/m"
    assert SECRET not in repr(config)
    assert webhook_config(None, None) is None
    assert webhook_config("", SECRET) is None


@pytest.mark.parametrize(
    "bad", ["ftp://h/x", "file:///etc/passwd", "hooks.example.com", "https://", "mailto:a@b"]
)
def test_a_url_that_is_not_http_is_refused_naming_the_option(bad: str) -> None:
    with pytest.raises(MutatorInputError, match=r"^--webhook-url: .* is not an http\(s\) URL"):
        webhook_config(bad, SECRET)


def test_a_password_in_a_refused_url_is_not_shown() -> None:
    with pytest.raises(MutatorInputError) as refused:
        webhook_config("ftp://me:hunter2@h/x", SECRET)
    assert "hunter2" not in str(refused.value)
    assert redact_url("https://me:hunter2@h:8443/x") == "https://me:***@h:8443/x"
    assert redact_url("https://h/x") == "https://h/x"


@pytest.mark.parametrize("secret", [None, "", "  "])
def test_a_url_without_a_secret_is_refused(secret: str | None) -> None:
    with pytest.raises(
        MutatorInputError, match="needs a signing secret: set MUTATOR_WEBHOOK_SECRET"
    ):
        webhook_config("https://h/x", secret)


@pytest.mark.parametrize("secret", ["hunter2", "whsec_", "whsec_%%%"])
def test_a_secret_not_in_the_standard_format_is_refused(secret: str) -> None:
    with pytest.raises(MutatorInputError, match="MUTATOR_WEBHOOK_SECRET: not a Standard Webhooks"):
        webhook_config("https://h/x", secret)


def test_bad_retry_settings_are_refused() -> None:
    with pytest.raises(MutatorInputError, match="max_attempts"):
        webhook_config("https://h/x", SECRET, max_attempts=0)


def test_waits_between_attempts_double_up_to_the_longest() -> None:
    config = webhook_config("https://h/x", SECRET, initial_retry_seconds=1, max_retry_seconds=5)
    assert config is not None
    assert [config.retry_delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert config.retry_delay(1000) == 5


def test_an_event_signed_with_the_config_verifies_with_standardwebhooks() -> None:
    config = webhook_config("https://h/x", SECRET)
    assert config is not None
    event = WebhookEvent(id="evt_1", type="request.executed", timestamp=NOW, data={"a": 1})
    now = datetime.now(UTC)
    headers = {
        "webhook-id": event.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": config.signer().sign(event.id, now, event.body()),
    }
    assert Webhook(SECRET).verify(event.body(), headers) == {
        "type": "request.executed",
        "timestamp": NOW.isoformat(),
        "data": {"a": 1},
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (RequestStatus.PENDING, "request.pending"),
        (RequestStatus.EXECUTED, "request.executed"),
        (RequestStatus.REJECTED, "request.rejected"),
        (RequestStatus.EXPIRED, "request.expired"),
        (RequestStatus.CANCELED, "request.cancelled"),
        (RequestStatus.FAILED, "request.failed"),
        (RequestStatus.SUPERSEDED, "request.superseded"),
        (RequestStatus.COMPENSATED, "request.compensated"),
        (RequestStatus.APPROVED, None),
        (RequestStatus.EXECUTING, None),
    ],
)
def test_each_final_status_and_pending_is_an_event(status: RequestStatus, kind: str | None) -> None:
    assert event_type(request(status)) == kind


def _pending() -> MutationRequest:
    return request(
        RequestStatus.PENDING,
        pending_reason=PendingReason.APPROVAL,
        required_approvals=[
            ApprovalRequirement(
                policy="two_of_three",
                count=2,
                approvers=["alice", "bob", "carol"],
                eligible=["alice", "bob", "carol"],
                timeout_seconds=3600,
            )
        ],
        approvals=[Approval(actor="bob", at=NOW)],
        gates=[
            Gate(kind=GateKind.APPROVAL, name="two_of_three", detail="1 of 2 approvals"),
            Gate(kind=GateKind.DEPENDENCY, name="req-0", status=GateStatus.PASSED),
        ],
        deadline=NOW + timedelta(hours=1),
    )


def test_a_pending_event_says_what_it_waits_for_and_how_to_approve() -> None:
    pending = _pending()
    assert eligible_approvers(pending) == ["alice", "carol"]
    data = request_event_data(pending)
    assert data["gates"] == [
        {
            "kind": "approval",
            "name": "two_of_three",
            "status": "waiting",
            "detail": "1 of 2 approvals",
        }
    ]
    assert data["eligible_approvers"] == ["alice", "carol"]
    assert data["approved_by"] == ["bob"]
    assert (
        data["approve_command"]
        == approve_command("req-1")
        == ("mutator approve req-1 --actor <you>")
    )
    assert data["deadline"] == (NOW + timedelta(hours=1)).isoformat()
    assert "payload" not in data


def test_a_final_event_says_how_it_ended() -> None:
    rejected = request(
        RequestStatus.REJECTED,
        rejection=Rejection(code=RejectionCode.POLICY_DENIED, reason="no", actor="system"),
    )
    data = request_event_data(rejected)
    assert data["rejection"] == {"code": "policy_denied", "reason": "no", "actor": "system"}
    assert "approve_command" not in data
    executed = request_event_data(request(RequestStatus.EXECUTED, resulting_version=3))
    assert executed["resulting_version"] == 3
    failed = request_event_data(request(RequestStatus.FAILED, error="boom"))
    assert failed["error"] == "boom"


def test_a_compensations_events_name_the_request_it_compensates() -> None:
    plain = request_event_data(request(RequestStatus.EXECUTED, resulting_version=3))
    assert "compensates" not in plain
    for status in (RequestStatus.PENDING, RequestStatus.EXECUTED):
        data = request_event_data(request(status, compensates="req-0", compensation_mode="restore"))
        assert (data["compensates"], data["compensation_mode"]) == ("req-0", "restore")


def test_a_pending_event_names_the_soft_denies_to_override() -> None:
    pending = _pending()
    assert request_event_data(pending)["required_overrides"] == []
    pending.required_overrides = [
        OverrideRequirement(
            policy="business_hours",
            reason="outside business hours",
            roles=["oncall"],
            eligible=["olga"],
            timeout_seconds=60,
        )
    ]
    assert request_event_data(pending)["required_overrides"] == [
        {"policy": "business_hours", "reason": "outside business hours", "eligible": ["olga"]}
    ]
