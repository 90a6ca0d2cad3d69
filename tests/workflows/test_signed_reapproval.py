"""identity="signed" across time: re-approval after the state moves, and a directory change.

Signatures are bound to the base version the approvers saw: once the approvals are cleared
against a new version, the old ones are refused and new ones execute the request. A user
removed from the directory, or whose key is removed (the worker restarted with the new
directory), no longer counts; votes already cast stay recorded. The histories replay.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from mutator.identity.directory import parse_directory
from mutator.identity.signing import KeyFileSigner
from mutator.models import MutationRequest, PendingReason, RequestStatus
from mutator.store import Store
from tests.helpers.replays import assert_replays
from tests.helpers.signing import (
    ROLES,
    SignedWorld,
    directory_of,
    sign,
    signed_app,
    stored_snapshot,
    vote_envelope,
)
from tests.helpers.workers import assert_eventually, new_worker


async def test_signed_approvals_are_kept_when_the_change_on_the_new_version_is_the_same(
    world: SignedWorld,
) -> None:
    """reapprove_if_changed: the signatures given against version 0 still count, and the
    record (checked by ``running_mutator`` when the test ends) verifies."""
    req = await world.submit("sk-1", "st-sk-1", "kept.set", {"name": "cpu", "value": 8}, "dave")
    assert (req.status, req.base_version) == (RequestStatus.PENDING, 0)
    moved = await world.submit("sk-move", "st-sk-1", "open.add", {"amount": 5}, "alice")
    assert moved.status == RequestStatus.EXECUTED
    await world.vote("sk-1", "approve", "alice")
    await world.vote("sk-1", "approve", "bob")
    done = await world.settled("sk-1")
    assert done.status == RequestStatus.EXECUTED
    assert [d.reason for d in done.decisions if d.code == "approval_kept"] == [
        "the change on version 1 is the one approved on version 0: the approvals stand"
    ]
    kept = [d for d in done.decisions if d.code == "approved" and d.proof is not None]
    assert [(d.actor, d.proof.envelope["base_version"]) for d in kept if d.proof] == [
        ("alice", 0),
        ("bob", 0),
    ]
    assert done.base_version == 1


async def test_reapproval_needs_new_signatures_against_the_new_base_version(
    world: SignedWorld,
) -> None:
    req = await world.submit("sr-1", "st-sr-1", "reapproved.add", {"amount": 1}, "dave")
    assert (req.status, req.base_version) == (RequestStatus.PENDING, 0)
    # Carol signs now, against version 0, and sends it only later.
    early = sign(
        world.signers["carol"], vote_envelope(await world.live("sr-1"), "approve", "carol")
    )
    moved = await world.submit("sr-move", "st-sr-1", "open.add", {"amount": 5}, "alice")
    assert moved.status == RequestStatus.EXECUTED
    await world.vote("sr-1", "approve", "alice")
    await world.vote("sr-1", "approve", "bob")

    async def back_to_pending() -> MutationRequest:
        live = await world.live("sr-1")
        assert (live.status, live.pending_reason) == (RequestStatus.PENDING, PendingReason.APPROVAL)
        # And saved: the snapshot below is of the request as stored after the reset.
        stored = world.store.get_request("sr-1")
        assert stored is not None
        assert stored.status == RequestStatus.PENDING
        assert [d.code for d in stored.decisions] == [d.code for d in live.decisions]
        return live

    again = await assert_eventually(back_to_pending)
    assert (again.approvals, again.base_version) == ([], 1)
    assert "approvals_reset" in [d.code for d in again.decisions]
    # The approvals given against version 0 stay recorded, with their proofs.
    old = [d for d in again.decisions if d.code == "approved" and d.proof is not None]
    assert [(d.actor, d.proof.envelope["base_version"]) for d in old if d.proof] == [
        ("alice", 0),
        ("bob", 0),
    ]
    before = stored_snapshot(world.store, "sr-1", "st-sr-1")
    envelope, signature = early
    with pytest.raises(
        WorkflowUpdateFailedError,
    ) as refused:
        await world.vote("sr-1", "approve", "carol", envelope=envelope, signature=signature)
    assert (
        "signature refused (envelope_mismatch): envelope base_version is 0 but the request's is 1"
        in str(refused.value.cause)
    )
    assert stored_snapshot(world.store, "sr-1", "st-sr-1") == before
    # New signatures against version 1 execute it.
    await world.vote("sr-1", "approve", "carol")
    await world.vote("sr-1", "approve", "alice")
    done = await world.settled("sr-1")
    assert done.status == RequestStatus.EXECUTED
    assert done.resulting_version == 2
    new = [d for d in done.decisions if d.code == "approved" and d.proof is not None][2:]
    assert [(d.actor, d.proof.envelope["base_version"]) for d in new if d.proof] == [
        ("carol", 1),
        ("alice", 1),
    ]
    state = world.store.get_state("st-sr-1")
    assert state is not None
    assert state.data == {"value": 6}
    await assert_replays([world.handle("sr-1")])


async def test_a_user_or_a_key_removed_from_the_directory_no_longer_counts(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> None:
    first = signed_app(signers)
    sqlite_store.register_mutations({name: m.on_stale for name, m in first.mutations.items()})
    task_queue = "tq-directory-change"
    async with new_worker(dev_env.client, sqlite_store, app=first, task_queue=task_queue):
        world = SignedWorld(dev_env, sqlite_store, task_queue, signers)
        await world.submit("sd-1", "st-sd-1", "reviewed.add", {"amount": 2}, "dave")
        await world.vote("sd-1", "approve", "bob", "before the change")
        # Signed now, sent after the restart.
        late = sign(world.signers["bob"], vote_envelope(await world.live("sd-1"), "cancel", "bob"))
        carols = sign(
            world.signers["carol"], vote_envelope(await world.live("sd-1"), "approve", "carol")
        )
    # The worker restarts with a directory that no longer has bob, nor carol's key.
    without_bob = {user: roles for user, roles in ROLES.items() if user != "bob"}
    changed = signed_app(signers, without_bob)
    changed.use_directory(
        parse_directory({**directory_of(signers, without_bob), "carol": ["finance"]})
    )
    async with new_worker(dev_env.client, sqlite_store, app=changed, task_queue=task_queue):
        before = stored_snapshot(sqlite_store, "sd-1", "st-sd-1")
        envelope, signature = late
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await world.vote("sd-1", "cancel", "bob", envelope=envelope, signature=signature)
        assert "signature refused (unknown_actor): actor 'bob' is not in the directory" in str(
            refused.value.cause
        )
        assert stored_snapshot(sqlite_store, "sd-1", "st-sd-1") == before
        envelope, signature = carols
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await world.vote("sd-1", "approve", "carol", envelope=envelope, signature=signature)
        assert "signature refused (unknown_key): signing key" in str(refused.value.cause)
        assert stored_snapshot(sqlite_store, "sd-1", "st-sd-1") == before
        live = await world.live("sd-1")
        assert [a.actor for a in live.approvals] == ["bob"]  # cast before: stays recorded
        await world.vote("sd-1", "approve", "alice")
        done = await world.settled("sd-1")
        assert done.status == RequestStatus.EXECUTED
        await assert_replays([world.handle("sd-1")])
