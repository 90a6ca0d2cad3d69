"""docs/security.md, "Third-party approvers", end to end on a signed worker: a vote built as
the page says (hashlib, rfc8785 and ssh-keygen, tests/helpers/third_party.py) and sent with
the `temporal` CLI counts, as an update and as a signal, with its proof on the decision; the
same file sent again (a replay), or a vote whose comment is not the one signed, counts for
nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mutator.contracts import request_workflow_id
from mutator.models import MutationRequest, RequestStatus
from mutator.temporal import binary_path
from tests.helpers.signing import SignedWorld, now, stored_snapshot
from tests.helpers.third_party import documented_vote
from tests.helpers.workers import assert_eventually


async def temporal_cli(world: SignedWorld, *args: str) -> tuple[int, str]:
    """Run the installed `temporal` CLI against the world's server: exit code and output."""
    done = await asyncio.create_subprocess_exec(
        binary_path("temporal"),
        *args,
        *("--address", world.temporal.service_client.config.target_host),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await done.communicate()
    assert done.returncode is not None
    return done.returncode, (out + err).decode()


async def pending(world: SignedWorld, request_id: str) -> MutationRequest:
    req = await world.submit(request_id, f"st-{request_id}", "reviewed.add", {"amount": 2}, "dave")
    assert (req.status, req.pending_reason) == (RequestStatus.PENDING, "approval")
    return await world.live(request_id)


def vote_file(
    tmp_path: Path, world: SignedWorld, request: MutationRequest, actor: str, text: str
) -> Path:
    """The documented vote of ``actor`` (their key file) on ``request``, written to a file."""
    shown = json.loads(request.model_dump_json())
    vote = documented_vote(shown, world.signers[actor].path, actor, "approve", text, now())
    path = tmp_path / f"{actor}-vote.json"
    path.write_text(json.dumps(vote))
    return path


def fingerprints(request: MutationRequest) -> list[tuple[str, str | None]]:
    return [
        (d.actor, d.proof.fingerprint if d.proof else None)
        for d in request.decisions
        if (d.category, d.code) == ("approval", "approved")
    ]


async def test_a_bot_approves_with_the_temporal_cli_as_an_update(
    world: SignedWorld, tmp_path: Path
) -> None:
    request = await pending(world, "tp-update")
    vote = vote_file(tmp_path, world, request, "carol", "canary green")
    update = (
        *("workflow", "update", "execute", "--workflow-id", request_workflow_id("tp-update")),
        *("--name", "approve", "--input-file", str(vote)),
    )

    code, output = await temporal_cli(world, *update)

    assert code == 0, output
    counted = await world.live("tp-update")
    assert fingerprints(counted) == [("carol", world.signers["carol"].public_key.fingerprint)]
    assert [a.comment for a in counted.approvals] == ["canary green"]

    before = stored_snapshot(world.store, "tp-update", "st-tp-update")
    code, output = await temporal_cli(world, *update)

    assert code != 0
    assert "signature refused (replayed_nonce): envelope nonce" in output, output
    assert stored_snapshot(world.store, "tp-update", "st-tp-update") == before
    assert fingerprints(await world.live("tp-update")) == fingerprints(counted)


async def test_a_bot_approves_with_the_temporal_cli_as_a_signal(
    world: SignedWorld, tmp_path: Path
) -> None:
    request = await pending(world, "tp-signal")
    workflow = ("workflow", "signal", "--workflow-id", request_workflow_id("tp-signal"))
    good = vote_file(tmp_path, world, request, "carol", "canary green")
    tampered = vote_file(tmp_path, world, request, "bob", "ok")
    edited = json.loads(tampered.read_text())
    edited["comment"] = "ok, and ship it on Friday"
    tampered.write_text(json.dumps(edited))

    for vote in (good, tampered):
        code, output = await temporal_cli(
            world, *workflow, "--name", "approve_signal", "--input-file", str(vote)
        )
        assert code == 0, output

    async def both_recorded() -> None:
        live = await world.live("tp-signal")
        assert [(d.code, d.actor) for d in live.decisions][-2:] == [
            ("approved", "carol"),
            ("refused_attempt", "bob"),
        ]

    await assert_eventually(both_recorded)
    live = await world.live("tp-signal")
    assert fingerprints(live) == [("carol", world.signers["carol"].public_key.fingerprint)]
    assert [a.actor for a in live.approvals] == ["carol"]
    refused = live.decisions[-1]
    assert refused.reason.startswith("approve: signature refused (envelope_mismatch): "), (
        refused.reason
    )
    assert "comment" in refused.reason
    assert live.status == RequestStatus.PENDING
