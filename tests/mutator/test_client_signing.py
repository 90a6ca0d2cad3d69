"""`MutatorClient(signer=...)`: what a signed submit, batch, vote and cancel send verifies.

Against a real Temporal dev server and worker: the input each message carried is read back
from the workflow's event history (what the server received), and its envelope must verify
with `mutator.identity.verify.verify` against `expected_for(the request as stored, ...)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from mutator import MutationApp, RequireApprovals
from mutator.client import MutatorClient
from mutator.errors import MutatorInputError
from mutator.identity.directory import Directory
from mutator.identity.envelope import Action
from mutator.identity.requests import expected_for, used_nonces
from mutator.identity.signing import KeyFileSigner, SigningKeyError, SshKeygenSigner
from mutator.identity.verify import SignatureRefused, Verified, verify
from mutator.models import MutationRequest, RequestStatus
from mutator.store import Store
from tests.helpers.cli_signing import received_inputs
from tests.helpers.workers import running_mutator
from tests.mutator.identity.keys import SshKey, make_key

USERS = {"alice": ["sre"], "bob": ["sre"], "dave": ["dev"]}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SshKey]:
    where = tmp_path_factory.mktemp("client-keys")
    return {user: make_key(where, user) for user in [*USERS, "stranger"]}


def signed_app(keys: dict[str, SshKey]) -> MutationApp:
    app = MutationApp(
        directory={u: {"roles": r, "keys": [keys[u].public_line]} for u, r in USERS.items()},
        identity="signed",
    )

    @app.mutation("limits.set", on_stale="reapprove")
    def set_limit(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        return {**state, payload["name"]: payload["value"]}

    @app.policy("limits.*")
    def two_of_two(ctx: Any) -> RequireApprovals:
        return RequireApprovals(2, approvers={"alice", "bob"})

    return app


@pytest.fixture
async def base(
    dev_env: WorkflowEnvironment, sqlite_store: Store, keys: dict[str, SshKey]
) -> AsyncIterator[tuple[MutatorClient, Directory]]:
    app = signed_app(keys)
    async with running_mutator(dev_env, sqlite_store, app) as client:
        yield client, app.identities


def as_user(client: MutatorClient, signer: Any) -> MutatorClient:
    """Another client on the same server, store and task queue, signing with ``signer``."""
    return MutatorClient(
        client.temporal,
        client.store,
        task_queue=client.task_queue,
        search_attributes=client.search_attributes,
        signer=signer,
    )


async def sent_inputs(client: MutatorClient, request_id: str) -> dict[str, list[Any]]:
    return await received_inputs(client.temporal, request_id)


def check(
    sent: dict[str, Any],
    request: MutationRequest,
    action: Action,
    actor: str,
    directory: Directory,
    nonces: set[str] | None = None,
) -> Verified:
    assert sent["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    return verify(
        sent["envelope"],
        sent["signature"],
        directory,
        expected=expected_for(request, action, actor),
        now=datetime.now(UTC),
        used_nonces=nonces or set(),
    )


async def test_a_signed_submit_and_votes_send_envelopes_that_verify(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, directory = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    pending = await dave.submit(
        "acct-1",
        "limits.set",
        {"name": "daily", "value": 500},
        actor="dave",
        reason="raise it",
        request_id="lim-signed",
    )
    assert pending.status == RequestStatus.PENDING
    alice = as_user(client, KeyFileSigner(keys["alice"].private))
    await alice.approve("lim-signed", actor="alice", comment="fine")
    bob = as_user(client, SshKeygenSigner(keys["bob"].private, interactive=False))
    await bob.approve("lim-signed", actor="bob")
    done = await client.wait("lim-signed", timeout=30)
    assert done.status == RequestStatus.EXECUTED

    sent = await sent_inputs(client, "lim-signed")
    [start] = sent["start"]
    submitted = check(start, done, "submit", "dave", directory)
    assert submitted.envelope.comment == "raise it"
    assert submitted.envelope.base_version is None  # no expected version given
    assert submitted.fingerprint == keys["dave"].fingerprint()
    first, second = sent["approve"]
    by_alice = check(first, done, "approve", "alice", directory, {submitted.envelope.nonce})
    assert (by_alice.envelope.comment, first["comment"]) == ("fine", "fine")
    assert by_alice.envelope.base_version == done.base_version == 0
    by_bob = check(second, done, "approve", "bob", directory)
    assert by_bob.fingerprint == keys["bob"].fingerprint()
    assert len({submitted.envelope.nonce, by_alice.envelope.nonce, by_bob.envelope.nonce}) == 3


async def test_signed_reject_and_cancel(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, directory = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    alice = as_user(client, KeyFileSigner(keys["alice"].private))
    for request_id in ("rej-1", "can-1"):
        await dave.submit(
            "acct-2", "limits.set", {"name": "x", "value": 1}, actor="dave", request_id=request_id
        )
    rejected = await alice.reject("rej-1", actor="alice", reason="too high")
    canceled = await dave.cancel("can-1", actor="dave", reason="not needed")
    assert (rejected.status, canceled.status) == (RequestStatus.REJECTED, RequestStatus.CANCELED)
    [reject] = (await sent_inputs(client, "rej-1"))["reject"]
    assert check(reject, rejected, "reject", "alice", directory).envelope.comment == "too high"
    assert reject["reason"] == "too high"
    [cancel] = (await sent_inputs(client, "can-1"))["cancel"]
    assert check(cancel, canceled, "cancel", "dave", directory).envelope.comment == "not needed"


async def test_a_signed_batch_covers_its_items(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, directory = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    items: list[dict[str, Any]] = [
        {"state_id": "b-1", "mutation": "limits.set", "payload": {"name": "a", "value": 1}},
        {
            "state_id": "b-2",
            "mutation": "limits.set",
            "payload": {"name": "b", "value": 2},
            "expected_version": 0,
        },
    ]
    batch = await dave.submit_batch(items, mode="atomic", actor="dave", request_id="batch-s")
    stored = await client.get(batch.request_id)
    [start] = (await sent_inputs(client, "batch-s"))["start"]
    signed = check(start, stored, "submit", "dave", directory)
    assert (signed.envelope.mutation, signed.envelope.state_id) == ("batch", "b-1,b-2")


async def test_a_signed_submit_covers_its_earliest_start(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, directory = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    later = datetime.now(UTC) + timedelta(days=3)
    pending = await dave.submit(
        "acct-nb",
        "limits.set",
        {"name": "weekly", "value": 5},
        actor="dave",
        request_id="lim-not-before",
        not_before=later,
    )
    # Accepted: the worker checked the signature against the request with its not_before.
    assert pending.status == RequestStatus.PENDING, pending.rejection
    assert pending.not_before == later.astimezone(UTC)
    [start] = (await sent_inputs(client, "lim-not-before"))["start"]
    check(start, pending, "submit", "dave", directory)
    # The same signature over a request without the earliest start does not match.
    moved = pending.model_copy(update={"not_before": None})
    with pytest.raises(SignatureRefused, match="payload"):
        check(start, moved, "submit", "dave", directory)


async def test_prepare_vote_signs_against_the_request_and_sends_nothing(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, directory = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    await dave.submit(
        "acct-3", "limits.set", {"name": "n", "value": 3}, actor="dave", request_id="p-1"
    )
    before = await client.get("p-1")
    alice = as_user(client, KeyFileSigner(keys["alice"].private))
    message = await alice.prepare_vote("p-1", "approve", actor="alice", comment="lgtm")
    assert (message.workflow_id, message.update, message.signal) == (
        "mutation-request:p-1",
        "approve",
        "approve_signal",
    )
    data = message.input_json()
    assert set(data) == {"actor", "comment", "envelope", "signature"}
    nonces = used_nonces(before)
    assert check(data, before, "approve", "alice", directory, nonces).actor == "alice"
    after = await client.get("p-1")
    assert (after.revision, after.approvals) == (before.revision, [])
    assert "approve" not in await sent_inputs(client, "p-1")

    unsigned = await client.prepare_vote("p-1", "cancel", actor="dave", comment="")
    assert unsigned.input_json() == {"actor": "dave", "reason": ""}


async def test_a_signer_that_fails_sends_nothing(
    base: tuple[MutatorClient, Directory],
    keys: dict[str, SshKey],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = base
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    # ssh-keygen given only a public key, with no agent and no private key beside it, fails.
    lone = tmp_path / "lone.pub"
    lone.write_text(keys["dave"].public_line + "\n")
    broken = as_user(client, SshKeygenSigner(lone, interactive=False))
    with pytest.raises(SigningKeyError, match=f"signing key {lone}: ssh-keygen -Y sign failed"):
        await broken.submit(
            "acct-4", "limits.set", {"name": "n", "value": 1}, actor="dave", request_id="nope"
        )
    assert await asyncio.to_thread(client.store.get_request, "nope") is None
    with pytest.raises(RPCError) as never:  # its workflow was never started
        await client.temporal.get_workflow_handle("mutation-request:nope").describe()
    assert never.value.status == RPCStatusCode.NOT_FOUND


async def test_a_payload_without_a_canonical_form_cannot_be_signed(
    base: tuple[MutatorClient, Directory], keys: dict[str, SshKey]
) -> None:
    client, _ = base
    dave = as_user(client, KeyFileSigner(keys["dave"].private))
    with pytest.raises(MutatorInputError, match="payload: cannot be signed: no RFC 8785"):
        await dave.submit(
            "acct-5", "limits.set", {"name": "n", "value": 2**60}, actor="dave", request_id="big"
        )
    assert await asyncio.to_thread(client.store.get_request, "big") is None
