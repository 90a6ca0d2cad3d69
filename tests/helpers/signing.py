"""Signed requests at the handle level: keys, a signed app, envelopes, signed submits and votes.

The client and CLI sign for their users (the client helper's part); these helpers sign
envelopes themselves with ``make_envelope`` and a ``KeyFileSigner``, and send them straight
to the request workflow, so the worker's checks are tested on what it receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireApprovals
from mutator.client_submission import start_request
from mutator.contracts import (
    ApproveInput,
    CancelInput,
    RejectInput,
    RequestUpdateResult,
    request_workflow_id,
)
from mutator.identity.envelope import Action, Envelope, make_envelope
from mutator.identity.requests import request_signed_payload, signed_payload
from mutator.identity.signing import KeyFileSigner, sign_envelope
from mutator.models import IdentityMode, MutationRequest, OnStale, SubmitRequestInput
from mutator.store import Store
from tests.mutator.identity.keys import make_key

USERS = ("alice", "bob", "carol", "dave", "mallory")
ROLES = {"alice": ["sre"], "bob": ["sre"], "carol": ["finance"], "dave": ["dev"]}


def make_signers(directory: Path) -> dict[str, KeyFileSigner]:
    """An ed25519 key (made by ssh-keygen) and its signer for each of USERS."""
    return {user: KeyFileSigner(make_key(directory, user).private) for user in USERS}


def _add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "value": state.get("value", 0) + payload["amount"]}


def two_of_three(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(2, approvers={"alice", "bob", "carol"})


def directory_of(
    signers: Mapping[str, KeyFileSigner], members: Mapping[str, list[str]] = ROLES
) -> dict[str, Any]:
    """The directory entries of ``members``, each with their roles and signer's key."""
    return {
        user: {"roles": roles, "keys": [signers[user].public_key.openssh]}
        for user, roles in members.items()
    }


def signed_app(
    signers: Mapping[str, KeyFileSigner],
    members: Mapping[str, list[str]] = ROLES,
    *,
    identity: IdentityMode = "signed",
) -> MutationApp:
    """An app in ``signed`` mode: ``open.add`` runs at once; ``reviewed.add`` (on_stale
    reject), ``reapproved.add`` (reapprove) and ``kept.set`` (reapprove_if_changed) need 2
    of alice, bob and carol. Mallory holds a key but is in no directory."""
    app = MutationApp(directory=directory_of(signers, members), identity=identity)
    app.mutation("open.add")(_add)
    stale: dict[str, OnStale] = {"reviewed.add": "reject", "reapproved.add": "reapprove"}
    for name, on_stale in stale.items():
        app.mutation(name, on_stale=on_stale)(_add)
        app.policy(name)(two_of_three)
    app.mutation("kept.set", on_stale="reapprove_if_changed")(_set)
    app.policy("kept.set")(two_of_three)
    return app


def _set(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, payload["name"]: payload["value"]}


def now() -> datetime:
    return datetime.now(UTC)


def vote_envelope(
    request: MutationRequest,
    action: Action,
    actor: str,
    comment: str = "",
    **changes: Any,
) -> Envelope:
    """The envelope ``actor`` signs for ``action`` on ``request`` as it stands; ``changes``
    override fields (``base_version``, ``payload``, ``request_id``, ``now``, ``nonce``)."""
    fields: dict[str, Any] = {
        "action": action,
        "request_id": request.request_id,
        "actor": actor,
        "state_id": request.state_id,
        "mutation": request.mutation,
        "payload": request_signed_payload(request),
        "base_version": request.base_version,
        "comment": comment,
        "now": now(),
    }
    fields.update(changes)
    return make_envelope(**fields)


def sign(signer: KeyFileSigner, envelope: Envelope) -> tuple[dict[str, Any], str]:
    """The envelope as sent (a JSON object) and its signature."""
    return envelope.model_dump(mode="json"), sign_envelope(signer, envelope)


@dataclass
class SignedWorld:
    """A running signed worker's task queue, its store, the keys, and the Temporal client."""

    env: WorkflowEnvironment
    store: Store
    task_queue: str
    signers: dict[str, KeyFileSigner]

    @property
    def temporal(self) -> Client:
        return self.env.client

    def handle(self, request_id: str) -> WorkflowHandle[Any, Any]:
        return self.temporal.get_workflow_handle(request_workflow_id(request_id))

    async def submit(
        self,
        request_id: str,
        state_id: str,
        mutation: str,
        payload: dict[str, Any],
        actor: str,
        *,
        reason: str = "",
        expected_version: int | None = None,
        signer: str | None = None,
        envelope: Mapping[str, Any] | None = None,
        signature: str | None = None,
        unsigned: bool = False,
        signs_payload: dict[str, Any] | None = None,
        after: list[str] | None = None,
        break_glass: bool = False,
        **changes: Any,
    ) -> MutationRequest:
        """Submit through the workflow's start, signed by ``signer`` (default: the actor)
        unless ``unsigned``, or with the ``envelope`` and ``signature`` given; the envelope
        hashes ``signs_payload`` if given (default: the payload and ``after``, as
        ``signed_payload`` binds them), and ``changes`` alter its other fields. ``after``: the
        requests it depends on; ``break_glass``: submitted with it (the default envelope
        then hashes the break-glass payload too)."""
        if not unsigned and envelope is None:
            fields: dict[str, Any] = {
                "action": "submit",
                "request_id": request_id,
                "actor": actor,
                "state_id": state_id,
                "mutation": mutation,
                "payload": signed_payload(
                    mutation, payload, after=after or [], break_glass=break_glass
                )
                if signs_payload is None
                else signs_payload,
                "base_version": expected_version,
                "comment": reason,
                "now": now(),
            }
            made = make_envelope(**{**fields, **changes})
            envelope, signature = sign(self.signers[signer or actor], made)
        submitted = SubmitRequestInput(
            request_id=request_id,
            state_id=state_id,
            mutation=mutation,
            payload=payload,
            requester=actor,
            reason=reason,
            expected_version=expected_version,
            envelope=dict(envelope) if envelope is not None else None,
            signature=signature,
            after=after or [],
            break_glass=break_glass,
        )
        request = await start_request(
            self.temporal,
            submitted,
            task_queue=self.task_queue,
            search_attributes=not self.env.supports_time_skipping_v1,
            admission_timeout=30,
        )
        assert request is not None
        return request

    async def live(self, request_id: str) -> MutationRequest:
        """The request as its workflow holds it (proofs included)."""
        request: MutationRequest = await self.handle(request_id).query(
            "status", result_type=MutationRequest
        )
        return request

    async def settled(self, request_id: str) -> MutationRequest:
        """The request as its workflow holds it once it ended (its result awaited)."""
        await self.handle(request_id).result()
        return await self.live(request_id)

    async def vote(
        self,
        request_id: str,
        action: Action,
        actor: str,
        text: str = "",
        *,
        signer: str | None = None,
        envelope: Mapping[str, Any] | None = None,
        signature: str | None = None,
        unsigned: bool = False,
        **changes: Any,
    ) -> MutationRequest:
        """Send ``action`` as an update, signed by ``signer`` (default: the actor) over the
        request as it stands (``changes`` alter the envelope), unless given or ``unsigned``."""
        envelope, signature = await self._signed(
            request_id, action, actor, text, signer, envelope, signature, unsigned, changes
        )
        result: RequestUpdateResult = await self.handle(request_id).execute_update(
            action,
            vote_input(action, actor, text, envelope, signature),
            result_type=RequestUpdateResult,
        )
        return result.request

    async def signal(
        self,
        request_id: str,
        action: Action,
        actor: str,
        text: str = "",
        *,
        signer: str | None = None,
        envelope: Mapping[str, Any] | None = None,
        signature: str | None = None,
        unsigned: bool = False,
        **changes: Any,
    ) -> None:
        """Send ``action`` as a signal (``<action>_signal``), signed as ``vote`` signs."""
        envelope, signature = await self._signed(
            request_id, action, actor, text, signer, envelope, signature, unsigned, changes
        )
        await self.handle(request_id).signal(
            f"{action}_signal", vote_input(action, actor, text, envelope, signature)
        )

    async def _signed(
        self,
        request_id: str,
        action: Action,
        actor: str,
        text: str,
        signer: str | None,
        envelope: Mapping[str, Any] | None,
        signature: str | None,
        unsigned: bool,
        changes: dict[str, Any],
    ) -> tuple[Mapping[str, Any] | None, str | None]:
        if unsigned or envelope is not None:
            return envelope, signature
        request = await self.live(request_id)
        made = vote_envelope(request, action, actor, text, **changes)
        return sign(self.signers[signer or actor], made)


def vote_input(
    action: Action,
    actor: str,
    text: str,
    envelope: Mapping[str, Any] | None,
    signature: str | None,
) -> ApproveInput | RejectInput | CancelInput:
    signed = {"envelope": dict(envelope) if envelope is not None else None, "signature": signature}
    if action == "approve":
        return ApproveInput(actor=actor, comment=text, **signed)
    if action == "reject":
        return RejectInput(actor=actor, reason=text, **signed)
    return CancelInput(actor=actor, reason=text, **signed)


def stored_snapshot(store: Store, request_id: str, state_id: str) -> tuple[Any, ...]:
    """What must not change when a message is refused: the stored request and the state."""
    stored = store.get_request(request_id)
    assert stored is not None
    state = store.get_state(state_id)
    return (
        stored.status,
        stored.pending_reason,
        [a.actor for a in stored.approvals],
        [(d.code, d.actor) for d in stored.decisions],
        stored.revision,
        (state.version, state.data) if state else None,
    )
