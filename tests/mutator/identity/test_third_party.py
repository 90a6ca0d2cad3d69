"""docs/security.md, "Third-party approvers": the steps there, with hashlib, rfc8785 and
ssh-keygen only (tests/helpers/third_party.py, no Mutator code), produce a vote that the
worker's verification accepts, for a single request and for a batch; and the values the page
names are the ones it checks. tests/workflows/test_third_party_approver.py sends such votes to
a signed worker with the `temporal` CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mutator.contracts import ApproveInput, RejectInput
from mutator.identity.checks import check_signed
from mutator.identity.directory import Directory, parse_directory
from mutator.identity.envelope import Action
from mutator.identity.registry import IdentityConfig
from mutator.identity.verify import EnvelopeMismatch
from mutator.models import (
    BatchItemResult,
    BatchMode,
    Decision,
    DecisionCategory,
    MutationRequest,
    RequestStatus,
    SignedProof,
)
from tests.helpers.third_party import documented_vote
from tests.mutator.identity.keys import SshKey, make_key

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


def worker_check(
    request: MutationRequest, vote: ApproveInput | RejectInput, directory: Directory
) -> SignedProof:
    """What a signed worker checks of a vote (mutator.identity.checks.check_signed)."""
    action: Action = "approve" if isinstance(vote, ApproveInput) else "reject"
    proof = check_signed(
        IdentityConfig("signed", directory),
        request,
        action,
        actor=vote.actor,
        comment=vote.comment if isinstance(vote, ApproveInput) else vote.reason,
        envelope=vote.envelope,
        signature=vote.signature,
        now=NOW + timedelta(seconds=30),
    )
    assert proof is not None
    return proof


@pytest.mark.parametrize("make", [single_request, batch_request], ids=["single", "batch"])
def test_the_documented_steps_make_a_vote_the_worker_accepts(
    make: Callable[[], MutationRequest], directory: Directory, bot_key: SshKey
) -> None:
    request = make()
    shown = json.loads(request.model_dump_json())
    vote = documented_vote(shown, bot_key.private, "release-bot", "approve", "canary green", NOW)

    proof = worker_check(request, ApproveInput.model_validate(vote), directory)

    assert proof.envelope["actor"] == "release-bot"
    assert proof.fingerprint == bot_key.fingerprint()


def test_a_documented_reject_takes_reason(directory: Directory, alice_key: SshKey) -> None:
    request = single_request()
    shown = json.loads(request.model_dump_json())
    vote = documented_vote(shown, alice_key.private, "alice", "reject", "too high", NOW)

    proof = worker_check(request, RejectInput.model_validate(vote), directory)
    assert proof.fingerprint == alice_key.fingerprint()


def test_the_comment_sent_must_be_the_one_signed(directory: Directory, alice_key: SshKey) -> None:
    request = single_request()
    vote = documented_vote(
        json.loads(request.model_dump_json()), alice_key.private, "alice", "approve", "ok", NOW
    )
    vote["comment"] = "ok, and more"

    with pytest.raises(EnvelopeMismatch, match="comment"):
        worker_check(request, ApproveInput.model_validate(vote), directory)


def test_a_batch_vote_is_bound_to_every_item_in_order(
    directory: Directory, bot_key: SshKey
) -> None:
    request = batch_request()
    shown = json.loads(request.model_dump_json())
    shown["items"].reverse()
    vote = documented_vote(shown, bot_key.private, "release-bot", "approve", "", NOW)

    with pytest.raises(EnvelopeMismatch, match="payload_sha256"):
        worker_check(request, ApproveInput.model_validate(vote), directory)


def test_a_vote_signed_before_a_reapproval_counts_for_nothing_after_it(
    directory: Directory, bot_key: SshKey
) -> None:
    request = single_request()
    vote = documented_vote(
        json.loads(request.model_dump_json()), bot_key.private, "release-bot", "approve", "", NOW
    )
    moved = request.model_copy(update={"base_version": 4})

    with pytest.raises(EnvelopeMismatch, match="base_version is 3 but the request's is 4"):
        worker_check(moved, ApproveInput.model_validate(vote), directory)
