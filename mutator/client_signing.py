"""Signing for ``MutatorClient``: a submit's envelope, and a vote's on the request as it stands.

A submit is bound to what the caller sends (its payload, or a batch's items, and its expected
version); a vote to the request as its workflow holds it now (its ``status`` query, else the
store): its payload hash and the base version it is checked against, which change when the
state moves and the approvals are cleared. The envelope conventions are those of
``mutator.identity.requests`` (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from mutator.client_submission import input_error
from mutator.contracts import ApproveInput, CancelInput, RejectInput, request_workflow_id
from mutator.decisions import DecisionCode
from mutator.errors import MutatorInputError
from mutator.identity.envelope import Action, Envelope, make_envelope
from mutator.identity.requests import request_signed_payload, signed_payload
from mutator.identity.signing import Signer, sign_envelope
from mutator.limits import check_name, check_text
from mutator.models import MutationRequest, SubmitRequestInput
from mutator.overrides import OverrideInput

VoteAction = Literal["approve", "reject", "cancel", "override"]
VOTE_ACTIONS: tuple[VoteAction, ...] = ("approve", "reject", "cancel", "override")
VoteInput = ApproveInput | RejectInput | CancelInput | OverrideInput

# A request's workflow answers its status query at once when a worker runs; without one the
# query would wait for the server's own limit, so the store answers instead.
STATUS_QUERY_SECONDS = 5.0


InputT = TypeVar("InputT", bound=BaseModel)


@dataclass(frozen=True)
class SignedMessage(Generic[InputT]):
    """A message ready to send to a request's workflow, as an update or as a signal.

    Attributes:
        request_id: The request.
        workflow_id: Its workflow's id (``mutation-request:<request id>``).
        update: The update's name (``approve``, ``check``, ...).
        signal: The signal's name, to send it from the Temporal UI (``approve_signal``, ...).
        input: The message's input, with ``envelope`` and ``signature`` when signed.
    """

    request_id: str
    workflow_id: str
    update: str
    signal: str
    input: InputT

    def input_json(self) -> dict[str, Any]:
        """The input as the workflow reads it: the JSON to paste under the UI's Data field."""
        data: dict[str, Any] = self.input.model_dump(mode="json")
        if data.get("signature") is None:
            data.pop("envelope", None)
            data.pop("signature", None)
        return data


@dataclass(frozen=True)
class VoteMessage(SignedMessage[VoteInput]):
    """A vote, cancel or override ready to send (the update named by its action)."""


def _signed(
    signer: Signer,
    *,
    action: Action,
    request_id: str,
    actor: str,
    state_id: str,
    mutation: str,
    payload: dict[str, Any],
    base_version: int | None,
    comment: str,
    now: datetime,
) -> tuple[dict[str, Any], str]:
    """The envelope (as a JSON object) and its signature.

    Raises:
        MutatorInputError: A field cannot go into an envelope (the payload has no canonical
            JSON form, a field is too long).
    """
    try:
        envelope: Envelope = make_envelope(
            action=action,
            request_id=request_id,
            actor=actor,
            state_id=state_id,
            mutation=mutation,
            payload=payload,
            base_version=base_version,
            comment=comment,
            now=now,
        )
    except ValidationError as exc:
        raise input_error(exc, "envelope") from None
    except ValueError as exc:
        raise MutatorInputError(f"payload: cannot be signed: {exc}") from None
    return envelope.model_dump(mode="json"), sign_envelope(signer, envelope)


def sign_submission(
    submitted: SubmitRequestInput, signer: Signer, now: datetime | None = None
) -> SubmitRequestInput:
    """``submitted`` with the requester's envelope (action ``submit``) and signature.

    The envelope's comment is the submit's reason and its base version the expected version;
    a batch's payload hash covers ``{"items": [...]}``, and ``after`` and ``not_before`` are
    covered too (``signed_payload``).

    Raises:
        MutatorInputError: The payload has no canonical JSON form, or a field cannot be signed.
        SigningKeyError: The signer failed (an ssh-agent without the key, ...).
    """
    envelope, signature = _signed(
        signer,
        action="submit",
        request_id=submitted.request_id,
        actor=submitted.requester,
        state_id=submitted.state_id,
        mutation=submitted.mutation,
        payload=signed_payload(
            submitted.mutation,
            submitted.payload,
            submitted.items,
            after=submitted.after,
            not_before=submitted.not_before,
            break_glass=submitted.break_glass,
            compensates=submitted.compensates,
            compensation_mode=submitted.compensation_mode,
            compensate_on_failure=submitted.compensate_on_failure,
        ),
        base_version=submitted.expected_version,
        comment=submitted.reason,
        now=now or datetime.now(UTC),
    )
    return submitted.model_copy(update={"envelope": envelope, "signature": signature})


def check_vote(action: str, actor: str, comment: str) -> None:
    """Refuse a vote's malformed fields before anything is read or sent.

    Raises:
        MutatorInputError: The action is unknown, the actor malformed, the comment or reason
            over its limit, or a rejection or override without a reason.
    """
    if action not in VOTE_ACTIONS:
        raise MutatorInputError(f"action: must be one of {', '.join(VOTE_ACTIONS)}, got {action!r}")
    check_name(actor, "actor")
    field = "comment" if action == "approve" else "reason"
    if action == "reject" and not comment.strip():
        raise MutatorInputError("reason: must not be empty; say why the request is rejected")
    if action == "override" and not comment.strip():
        raise MutatorInputError("reason: must not be empty; say why the soft deny is overridden")
    check_text(comment, field)


def vote_message(
    request: MutationRequest,
    action: VoteAction,
    *,
    actor: str,
    comment: str,
    signer: Signer | None,
    now: datetime | None = None,
) -> VoteMessage:
    """The vote, cancel or override ``action`` by ``actor`` on ``request``, signed if asked.

    ``comment`` is the approval's comment, or the reject, cancel or override reason; it is the
    envelope's comment. The envelope's base version is the request's ``base_version`` now.

    Raises:
        MutatorInputError: A field cannot be signed.
        SigningKeyError: The signer failed.
    """
    signed: dict[str, Any] = {}
    if signer is not None:
        envelope, signature = _signed(
            signer,
            action=action,
            request_id=request.request_id,
            actor=actor,
            state_id=request.state_id,
            mutation=request.mutation,
            payload=request_signed_payload(request),
            base_version=request.base_version,
            comment=comment,
            now=now or datetime.now(UTC),
        )
        signed = {"envelope": envelope, "signature": signature}
    message: VoteInput
    if action == "approve":
        message = ApproveInput(actor=actor, comment=comment, **signed)
    elif action == "reject":
        message = RejectInput(actor=actor, reason=comment, **signed)
    elif action == "override":
        message = OverrideInput(actor=actor, reason=comment, **signed)
    else:
        message = CancelInput(actor=actor, reason=comment, **signed)
    return VoteMessage(
        request_id=request.request_id,
        workflow_id=request_workflow_id(request.request_id),
        update=action,
        signal=f"{action}_signal",
        input=message,
    )


async def request_as_it_stands(temporal: Client, stored: MutationRequest) -> MutationRequest:
    """The request as its workflow holds it now (the ``status`` query), else as stored.

    The store's copy is written after each change, so it can lag the workflow by a moment (a
    base version moved by a stale check); a signature must be bound to the workflow's.
    """
    handle = temporal.get_workflow_handle(request_workflow_id(stored.request_id))
    try:
        current: MutationRequest = await handle.query(
            "status",
            result_type=MutationRequest,
            rpc_timeout=timedelta(seconds=STATUS_QUERY_SECONDS),
        )
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return stored
    return current


def submission_was_signed(request: MutationRequest) -> bool:
    """Whether the request's submission carried a signature (its ``submitted`` decision)."""
    return any(d.code == DecisionCode.SUBMITTED and d.proof is not None for d in request.decisions)
