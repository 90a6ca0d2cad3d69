"""Supersede in signed mode: it happens on the authority of the newer request's admission,
which checked the newer submit's signature; a newer submit whose signature is refused ends
nothing. The record, signatures included, verifies afterwards (``running_mutator``)."""

from __future__ import annotations

from typing import Any

from temporalio.testing import WorkflowEnvironment

from mutator.identity.signing import KeyFileSigner
from mutator.models import RejectionCode, RequestStatus
from mutator.store import Store
from tests.helpers.signing import SignedWorld, signed_app, two_of_three
from tests.helpers.workers import running_mutator


def _set(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "version": payload["version"]}


async def test_a_signed_newer_request_supersedes_a_refused_one_does_not(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> None:
    app = signed_app(signers)
    app.mutation("release.set", supersede=True)(_set)
    app.policy("release.set")(two_of_three)
    async with running_mutator(dev_env, sqlite_store, app) as client:
        world = SignedWorld(dev_env, sqlite_store, client.task_queue, signers)
        state = "st-signed-supersede"
        older = await world.submit("sgs-old", state, "release.set", {"version": "1"}, "dave")
        assert older.status == RequestStatus.PENDING
        forged = await world.submit(
            "sgs-forged", state, "release.set", {"version": "2"}, "dave", signer="mallory"
        )
        assert forged.status == RequestStatus.REJECTED
        assert forged.rejection is not None
        assert forged.rejection.code == RejectionCode.SIGNATURE_REFUSED
        assert forged.supersedes == []
        assert (await client.get("sgs-old")).status == RequestStatus.PENDING
        newer = await world.submit("sgs-new", state, "release.set", {"version": "3"}, "dave")
        assert newer.supersedes == ["sgs-old"]
        assert newer.decisions[0].proof is not None  # the authority: dave's signed submit
        ended = await client.get("sgs-old")
        assert (ended.status, ended.superseded_by) == (RequestStatus.SUPERSEDED, "sgs-new")
        assert ended.decisions[-1].proof is None  # a system decision, not a person's
