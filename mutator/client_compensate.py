"""``MutatorClient.compensate``: a new governed request that undoes an executed one.

The client checks what the store can tell (the original exists, executed, not compensated
nor with a compensation under way, no later version for ``restore``) before anything
starts; the worker plans the compensation and checks again, including whether the mutation
declares an inverse (``mutator.activities.compensation``). Either refusal stores nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from mutator.client_submission import input_error
from mutator.errors import MutatorInputError, MutatorNotFound, MutatorRefused
from mutator.lifecycle.compensation import compensation_refusal
from mutator.limits import check_name, check_optional_id, check_text
from mutator.models import (
    COMPENSATION_MODES,
    CompensationMode,
    MutationRequest,
    SubmitRequestInput,
)
from mutator.reader import StoreReader


def compensation_submission(
    original: MutationRequest | None,
    original_id: str,
    *,
    linked: MutationRequest | None,
    current_version: int,
    mode: str,
    actor: str,
    reason: str,
    request_id: str | None,
) -> SubmitRequestInput:
    """The checked input of a compensation of ``original`` (see ``MutatorClient.compensate``).

    Raises:
        MutatorInputError: A field is malformed, or the mode is not ``restore``/``inverse``.
        MutatorNotFound: ``original`` is None: no request has that id.
        MutatorRefused: The original cannot be compensated so (``compensation_refusal``).
    """
    check_name(actor, "actor")
    check_text(reason, "reason")
    check_optional_id(request_id, "compensation_id")
    if not reason.strip():
        raise MutatorInputError("reason: must not be empty; say why the change is undone")
    if mode not in COMPENSATION_MODES:
        raise MutatorInputError(
            f"mode: {mode!r} is not a compensation mode (one of {', '.join(COMPENSATION_MODES)})"
        )
    checked: CompensationMode = "restore" if mode == "restore" else "inverse"
    if original is None:
        raise MutatorNotFound(f"request_id: no request with id {original_id!r}")
    new_id = request_id if request_id is not None else f"comp-{uuid.uuid4().hex[:16]}"
    refusal = compensation_refusal(
        original,
        new_id,
        checked,
        linked=linked,
        current_version=current_version,
        has_inverse=None,
    )
    if refusal is not None:
        raise MutatorRefused(refusal)
    try:
        return SubmitRequestInput(
            request_id=new_id,
            state_id=original.state_id,
            mutation=original.mutation,
            # planned by the worker: the data before the original, or the inverse's payload
            payload={},
            requester=actor,
            reason=reason,
            expected_version=original.resulting_version if checked == "restore" else None,
            compensates=original.request_id,
            compensation_mode=checked,
        )
    except ValidationError as exc:
        raise input_error(exc) from None


class CompensateCommands(StoreReader):
    """Compensation: a part of ``MutatorClient``."""

    _submit: Callable[..., Awaitable[MutationRequest]]

    async def compensate(
        self,
        request_id: str,
        *,
        actor: str,
        reason: str,
        mode: str = "restore",
        compensation_id: str | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> MutationRequest:
        """Undo the executed request ``request_id`` with a new governed request.

        The compensation changes the same state with the same mutation, and goes through
        policies (``PolicyContext.compensates`` names the original), approvals and the
        version check like any other request. ``restore`` sets the state's data back to
        what it was before the original, only while the original's change is the state's
        latest version (it expects that version, so a change meanwhile refuses it);
        ``inverse`` submits the payload of the mutation's ``@handler.inverse``, a forward
        correction applied to the latest state. The original records ``compensated_by``
        now, and becomes ``compensated`` when the compensation executes.

        Args:
            request_id: The executed request to undo.
            actor: Who asks (the compensation's requester).
            reason: Why, kept in both requests' records.
            mode: ``restore`` or ``inverse``.
            compensation_id: The compensation's id; made up when omitted.
            wait: Wait until the compensation reaches a final status.
            wait_timeout: With ``wait``, the most seconds to wait (None: no limit).

        Returns:
            The compensation, as its admission left it.

        Raises:
            MutatorInputError: A field is malformed, or ``mode`` is not a mode.
            MutatorNotFound: No request has the id ``request_id``.
            MutatorRefused: The original is not executed, is compensated already or has a
                compensation under way; ``restore`` with later versions (named);
                ``inverse`` of a mutation without an inverse (named). Nothing is stored.
            MutatorUnavailable: Temporal refused it, or no worker polls the task queue.
            MutatorTimeout: ``wait`` ran out of time.
        """
        original = await asyncio.to_thread(self.store.get_request, request_id)
        linked = None
        current = 0
        if original is not None:
            if original.compensated_by is not None:
                linked = await asyncio.to_thread(self.store.get_request, original.compensated_by)
            current = await asyncio.to_thread(self.store.current_version, original.state_id)
        submitted = compensation_submission(
            original,
            request_id,
            linked=linked,
            current_version=current,
            mode=mode,
            actor=actor,
            reason=reason,
            request_id=compensation_id,
        )
        return await self._submit(
            submitted, wait=wait, wait_timeout=wait_timeout, new_id=compensation_id is None
        )
