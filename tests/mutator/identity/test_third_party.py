"""docs/security.md, "Third-party approvers": the steps there, with hashlib, rfc8785 and
ssh-keygen only (no Mutator code), produce a vote that the worker's verification accepts,
for a single request and for a batch; and the values the page names are the ones it checks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from mutator.contracts import ApproveInput, RejectInput
from mutator.identity.directory import Directory, parse_directory
from mutator.identity.envelope import Action
from mutator.identity.requests import expected_for, used_nonces
from mutator.identity.verify import EnvelopeMismatch, Verified, verify
from mutator.models import (
    BatchItemResult,
    BatchMode,
    Decision,
    DecisionCategory,
    MutationRequest,
    RequestStatus,
)
from tests.mutator.identity.keys import SshKey, make_key, ssh_keygen_sign

NOW = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bot_key(keydir: Path) -> SshKey:
    return make_key(keydir, "release-bot")


@pytest.fixture(scope="module")
def directory(bot_key: SshKey, alice_key: SshKey) -> Directory:
    return parse_directory(
        {
            "release-bot": {"roles": ["release"], "keys": [bot_key.public_line]},
            "alice": {"roles": ["sre"], "keys": [alice_key.public_line]},
        }
    )


def single_request() -> MutationRequest:
    return MutationRequest(
        request_id="lim-1",
        state_id="acct-1",
        mutation="limits.set",
        payload={"value": 500, "name": "daily"},
        requester="dave",
        status=RequestStatus.PENDING,
        base_version=3,
        created_at=NOW,
        updated_at=NOW,
        decisions=[
            Decision(category=DecisionCategory.LIFECYCLE, code="submitted", actor="dave", at=NOW)
        ],
    )


def batch_request() -> MutationRequest:
    items = [
        BatchItemResult(
            index=0,
            state_id="acct-2",
            mutation="limits.set",
            payload={"name": "daily", "value": 500},
            expected_version=3,
            base_version=3,
        ),
        BatchItemResult(
            index=1,
            state_id="acct-1",
            mutation="limits.set",
            payload={"name": "daily", "value": 700},
            base_version=1,
        ),
    ]
    return MutationRequest(
        request_id="batch-1",
        state_id="acct-1,acct-2",
        mutation="batch",
        payload={},
        requester="dave",
        status=RequestStatus.PENDING,
        batch_mode=BatchMode.ATOMIC,
        items=items,
        created_at=NOW,
        updated_at=NOW,
    )


# -- the documented steps, on the request's JSON (`mutator show ID --json`) -----------------


def documented_payload_sha256(shown: dict[str, Any]) -> str:
    """The payload, or for a batch {"items": [...]} with the four fields of each item."""
    if shown["mutation"] == "batch":
        hashed: dict[str, Any] = {
            "items": [
                {
                    "state_id": item["state_id"],
                    "mutation": item["mutation"],
                    "payload": item["payload"],
                    "expected_version": item["expected_version"],
                }
                for item in shown["items"]
            ]
        }
    else:
        hashed = shown["payload"]
    return hashlib.sha256(rfc8785.dumps(hashed)).hexdigest()


def documented_vote(
    shown: dict[str, Any], key: SshKey, actor: str, action: str, text: str, now: datetime
) -> dict[str, Any]:
    """Steps 2 to 4: the envelope, its SSHSIG signature by ssh-keygen, the update's input."""
    envelope = {
        "action": action,
        "request_id": shown["request_id"],
        "actor": actor,
        "state_id": shown["state_id"],
        "mutation": shown["mutation"],
        "payload_sha256": documented_payload_sha256(shown),
        "base_version": shown["base_version"],
        "comment": text,
        "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nonce": secrets.token_hex(16),
    }
    signature = ssh_keygen_sign(key.private, rfc8785.dumps(envelope))
    field = "comment" if action == "approve" else "reason"
    return {"actor": actor, field: text, "envelope": envelope, "signature": signature}


def worker_check(
    request: MutationRequest, vote: ApproveInput | RejectInput, directory: Directory
) -> Verified:
    """What the worker checks of a vote (docs/security.md, "What the worker checks")."""
    assert vote.envelope is not None
    assert vote.signature is not None
    if isinstance(vote, ApproveInput):
        action: Action = "approve"
        text = vote.comment
    else:
        action, text = "reject", vote.reason
    assert vote.envelope["comment"] == text
    return verify(
        vote.envelope,
        vote.signature,
        directory,
        expected=expected_for(request, action, vote.actor),
        now=NOW + timedelta(seconds=30),
        used_nonces=used_nonces(request),
    )


@pytest.mark.parametrize("make", [single_request, batch_request], ids=["single", "batch"])
def test_the_documented_steps_make_a_vote_the_worker_accepts(
    make: Callable[[], MutationRequest], directory: Directory, bot_key: SshKey
) -> None:
    request = make()
    shown = json.loads(request.model_dump_json())
    vote = documented_vote(shown, bot_key, "release-bot", "approve", "canary green", NOW)

    verified = worker_check(request, ApproveInput.model_validate(vote), directory)

    assert verified.actor == "release-bot"
    assert verified.fingerprint == bot_key.fingerprint()


def test_a_documented_reject_takes_reason(directory: Directory, alice_key: SshKey) -> None:
    request = single_request()
    shown = json.loads(request.model_dump_json())
    vote = documented_vote(shown, alice_key, "alice", "reject", "too high", NOW)

    assert worker_check(request, RejectInput.model_validate(vote), directory).actor == "alice"


def test_a_batch_vote_is_bound_to_every_item_in_order(
    directory: Directory, bot_key: SshKey
) -> None:
    request = batch_request()
    shown = json.loads(request.model_dump_json())
    shown["items"].reverse()
    vote = documented_vote(shown, bot_key, "release-bot", "approve", "", NOW)

    with pytest.raises(EnvelopeMismatch, match="payload_sha256"):
        worker_check(request, ApproveInput.model_validate(vote), directory)


def test_a_vote_signed_before_a_reapproval_counts_for_nothing_after_it(
    directory: Directory, bot_key: SshKey
) -> None:
    request = single_request()
    vote = documented_vote(
        json.loads(request.model_dump_json()), bot_key, "release-bot", "approve", "", NOW
    )
    moved = request.model_copy(update={"base_version": 4})

    with pytest.raises(EnvelopeMismatch, match="base_version is 3 but the request's is 4"):
        worker_check(moved, ApproveInput.model_validate(vote), directory)
