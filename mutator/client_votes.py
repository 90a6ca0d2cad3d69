"""``MutatorClient``'s votes and cancels, and ``prepare_vote`` to build one without sending.

``prepare_vote`` signs the message when the client has a signer.
"""

from __future__ import annotations

from temporalio.client import Client

from mutator.client_messages import send_update
from mutator.client_signing import (
    VoteAction,
    VoteMessage,
    check_vote,
    request_as_it_stands,
    vote_message,
)
from mutator.errors import MutatorRefused
from mutator.identity.signing import Signer
from mutator.limits import check_optional_id
from mutator.models import MutationRequest
from mutator.reader import StoreReader


class VoteCommands(StoreReader):
    """Votes and cancels, sent to a request's workflow: a part of ``MutatorClient``."""

    temporal: Client
    signer: Signer | None

    async def approve(
        self, request_id: str, *, actor: str, comment: str = "", update_id: str | None = None
    ) -> MutationRequest:
        """Approve a pending request; enough approvals let it run.

        Args:
            request_id: The request.
            actor: Who approves; must be eligible under the request's requirement.
            comment: Kept with the approval in the audit trail.
            update_id: An id for this vote; sending the same id again is answered once.

        Returns:
            The request after the vote.

        Raises:
            MutatorInputError: A field is malformed or over its limit.
            MutatorNotFound: No request has that id.
            MutatorRefused: The actor may not approve it (requester, ineligible, already
                voted, a signature the worker refuses) or the request has ended.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        return await self._vote(request_id, "approve", actor, comment, update_id)

    async def reject(
        self, request_id: str, *, actor: str, reason: str, update_id: str | None = None
    ) -> MutationRequest:
        """Reject a pending request; it ends rejected and never runs.

        Args:
            request_id: The request.
            actor: Who rejects; must be eligible to approve it.
            reason: Why; required.
            update_id: An id for this vote; sending the same id again is answered once.

        Returns:
            The rejected request.

        Raises:
            MutatorInputError: ``reason`` is empty, or a field is malformed.
            MutatorNotFound: No request has that id.
            MutatorRefused: The actor may not reject it, or the request has ended.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        return await self._vote(request_id, "reject", actor, reason, update_id)

    async def cancel(
        self, request_id: str, *, actor: str, reason: str = "", update_id: str | None = None
    ) -> MutationRequest:
        """Cancel a pending request; it ends canceled and never runs.

        Args:
            request_id: The request.
            actor: Who cancels (the requester, or an eligible approver).
            reason: Why, kept in the audit trail.
            update_id: An id for this message; sending the same id again is answered once.

        Returns:
            The cancelled request.

        Raises:
            MutatorInputError: A field is malformed or over its limit.
            MutatorNotFound: No request has that id.
            MutatorRefused: The actor may not cancel it, or it is no longer pending.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        return await self._vote(request_id, "cancel", actor, reason, update_id)

    async def override(
        self, request_id: str, *, actor: str, reason: str, update_id: str | None = None
    ) -> MutationRequest:
        """Override the request's soft deny (a policy's ``Deny(level="soft")``).

        Recorded as an ``overridden`` decision by ``actor`` with ``reason`` (signed in signed
        mode); the request goes on once every gate is met (docs/gates.md).

        Args:
            request_id: The request.
            actor: Who overrides: a holder of one of the soft deny's ``override_roles``, not
                the requester.
            reason: Why (required), kept in the audit trail.
            update_id: An id for this override; sending the same id again is answered once.

        Raises:
            MutatorInputError: The actor is malformed, or the reason empty or too long.
            MutatorNotFound: No request has that id.
            MutatorRefused: The actor is not eligible, or nothing waits for an override.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        return await self._vote(request_id, "override", actor, reason, update_id)

    async def prepare_vote(
        self, request_id: str, action: VoteAction, *, actor: str, comment: str = ""
    ) -> VoteMessage:
        """The vote or cancel ``approve``/``reject``/``cancel`` would send, without sending it.

        With a signer, its envelope is bound to the request as it stands now (its workflow's
        ``status`` query, else the store): its payload hash and base version. Send the result
        as an update, or paste ``input_json()`` into the Temporal UI's "Send a Signal" under
        ``signal`` (``mutator approve --print-signal``); a signature counts only within the
        worker's tolerance of its ``issued_at`` (5 minutes by default).

        Args:
            request_id: The request.
            action: ``approve``, ``reject``, ``cancel`` or ``override``.
            actor: Who acts.
            comment: The approval's comment, or the reject, cancel or override reason (signed
                as the envelope's ``comment``).

        Returns:
            The message: workflow id, update and signal names, and input.

        Raises:
            MutatorInputError: A field is malformed, or signing failed (``SigningKeyError``).
            MutatorNotFound: No request has that id.
            MutatorRefused: The request has ended.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        check_vote(action, actor, comment)
        current = await self.get(request_id)
        if current.status.is_terminal:
            raise MutatorRefused(
                f"request {request_id} is {current.status.value}; it can no longer be changed "
                f"({action} refused)"
            )
        if self.signer is not None:
            current = await request_as_it_stands(self.temporal, current)
        return vote_message(current, action, actor=actor, comment=comment, signer=self.signer)

    async def _vote(
        self, request_id: str, action: VoteAction, actor: str, comment: str, update_id: str | None
    ) -> MutationRequest:
        check_vote(action, actor, comment)
        check_optional_id(update_id, "update_id")
        message = await self.prepare_vote(request_id, action, actor=actor, comment=comment)
        return await send_update(
            self.temporal, self, request_id, message.update, message.input, update_id
        )
