"""Signed mode from the command line: the worker's refusals reach the user (exit 1, nothing
changed), a vote on a signed request signs with the default key, and re-approval after the
state moved needs new signatures against the new base version.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from mutator.client_messages import send_update
from mutator.contracts import ApproveInput
from mutator.errors import MutatorRefused
from mutator.models import MutationRequest
from mutator.reader import StoreReader
from mutator.store import Store
from tests.helpers import cli_signing
from tests.helpers.cli_signing import (
    CAROL_PASSPHRASE,
    SignedStack,
    check,
    pending,
    sent_inputs,
    stored,
)
from tests.helpers.cli_stack import poll
from tests.helpers.cli_world import ok, uid

pytestmark = pytest.mark.slow

signed_stack = cli_signing.signed_stack
store = cli_signing.signed_store
default_home = cli_signing.default_home


# -- the worker's checks (signed mode): refusals reach the user with exit 1 ---------------


def test_a_refused_signature_exits_1_and_changes_nothing(
    signed_stack: SignedStack, store: Store
) -> None:
    request_id = pending(signed_stack)
    before = stored(store, request_id)
    bob, stranger = signed_stack.keys["bob"], signed_stack.keys["stranger"]
    cases = [
        (
            ("--actor", "alice", *signed_stack.key("bob")),
            f"signature refused (key_of_another_user): signing key {bob.fingerprint()} belongs "
            "to 'bob', not to actor 'alice'",
        ),
        (
            ("--actor", "alice", *signed_stack.key("stranger")),
            f"signature refused (unknown_key): signing key {stranger.fingerprint()} belongs to "
            "no user of the directory",
        ),
        (
            ("--actor", "alice", "--no-sign"),
            "signature refused (signature_required): identity is signed: approve needs a "
            "signature, e.g. `mutator approve ... --key PATH`",
        ),
    ]
    for args, message in cases:
        result = signed_stack.run("approve", request_id, *args, "--json")
        assert result.code == 1, result
        assert message in result.error, (message, result)
    after = stored(store, request_id)
    assert (after.revision, after.status, after.approvals) == (before.revision, before.status, [])


def test_an_unsigned_submit_is_rejected_in_signed_mode(signed_stack: SignedStack) -> None:
    refused = signed_stack.run(
        "submit",
        uid("acct"),
        "counter.add",
        "--payload",
        '{"amount": 1}',
        "--actor",
        "alice",
        "--no-sign",
        "--json",
    )
    body = ok(refused, code=1)
    assert body["status"] == "rejected"
    assert body["rejection"]["code"] == "signature_refused"
    assert "identity is signed: submit needs a signature" in body["rejection"]["reason"]
    assert body["resulting_version"] is None


async def test_a_vote_on_a_signed_request_signs_with_the_default_key(
    signed_stack: SignedStack, store: Store, default_home: Path, tmp_path: Path
) -> None:
    request_id = pending(signed_stack)
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", "--json", env={"HOME": str(default_home)}
        )
    )
    [vote] = (await sent_inputs(signed_stack.stack.address, request_id))["approve"]
    assert check(vote, stored(store, request_id), "approve", "alice", signed_stack).actor == "alice"
    empty = tmp_path / "empty-home"
    empty.mkdir()
    missing = signed_stack.run(
        "approve", request_id, "--actor", "bob", "--json", env={"HOME": str(empty)}
    )
    assert missing.code == 2, missing
    assert missing.error == (
        f"request {request_id} was submitted signed, so a vote on it must be signed too, and "
        f"there is no key at {empty / '.ssh' / 'id_ed25519'}: give --key PATH (or set "
        "MUTATOR_SIGNING_KEY)"
    )
    assert [a.actor for a in stored(store, request_id).approvals] == ["alice"]


async def test_reapproval_needs_signatures_against_the_new_base_version(
    signed_stack: SignedStack, store: Store
) -> None:
    acct = uid("acct")
    add = ("submit", acct, "counter.add", "--payload", '{"amount": 1}', "--actor", "alice")
    assert (
        ok(signed_stack.run(*add, *signed_stack.key("alice"), "--json"))["resulting_version"] == 1
    )
    request_id = uid("lim")
    ok(
        signed_stack.run(
            "submit",
            acct,
            "limits.set",
            "--payload",
            '{"name": "daily", "value": 9}',
            "--actor",
            "dave",
            "--request-id",
            request_id,
            *signed_stack.key("dave"),
            "--json",
        )
    )
    carol = {"MUTATOR_SIGNING_KEY_PASSPHRASE": CAROL_PASSPHRASE}
    early = ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "carol",
            "--print-signal",
            *signed_stack.key("carol"),
            "--json",
            env=carol,
        )
    )["input"]
    assert early["envelope"]["base_version"] == 1
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", *signed_stack.key("alice"), "--json"
        )
    )
    # The state moves on before the quorum: the approvals are cleared and the base moves to 2.
    assert (
        ok(signed_stack.run(*add, *signed_stack.key("alice"), "--json"))["resulting_version"] == 2
    )
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "bob", *signed_stack.key("bob"), "--json"
        )
    )

    def reapproving() -> MutationRequest | None:
        found = stored(store, request_id)
        if (found.status.value, found.base_version, found.approvals) == ("pending", 2, []):
            return found
        return None

    again = poll(reapproving, timeout=30, what="the request pending again at base version 2")
    # carol's signature of the request at base version 1 counts no more: as an update (what
    # the CLI sends) it is refused with exit code 1 and changes nothing ...
    client = await Client.connect(
        signed_stack.stack.address, data_converter=pydantic_data_converter
    )
    stale = (
        "signature refused (envelope_mismatch): envelope base_version is 1 but the request's is 2"
    )
    with pytest.raises(MutatorRefused, match=re.escape(stale)) as refused:
        await send_update(
            client, StoreReader(store), request_id, "approve", ApproveInput(**early), None
        )
    assert refused.value.exit_code == 1
    assert stored(store, request_id).revision == again.revision
    # ... and pasted as the UI's signal, it is recorded as a refused attempt that counts for
    # nothing.
    await client.get_workflow_handle(f"mutation-request:{request_id}").signal(
        "approve_signal", early
    )

    def refusal() -> str | None:
        found = stored(store, request_id)
        reasons = [d.reason for d in found.decisions if d.code == "refused_attempt"]
        return reasons[-1] if reasons and found.revision > again.revision else None

    assert stale in poll(refusal, timeout=30, what="the refused signal")
    assert stored(store, request_id).approvals == []
    # New signatures, made against base version 2 by the CLI, execute it.
    ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "carol",
            *signed_stack.key("carol"),
            "--json",
            env=carol,
        )
    )
    ok(
        signed_stack.run(
            "approve", request_id, "--actor", "alice", *signed_stack.key("alice"), "--json"
        )
    )
    done = ok(signed_stack.run("wait", request_id, "--timeout", "30", "--json"))
    assert (done["status"], done["base_version"], done["resulting_version"]) == ("executed", 2, 3)
