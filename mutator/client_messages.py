"""Messages to a request's workflow for ``MutatorClient``: votes, cancels, and its result.

Votes and cancels are Temporal updates: the workflow validates each and answers with the
request as it left it, or refuses it with a reason the client raises as ``MutatorRefused``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from mutator.contracts import (
    ERR_INVALID_INPUT,
    RequestUpdateResult,
    RequestWorkflowResult,
    request_workflow_id,
)
from mutator.errors import MutatorError, MutatorInputError, MutatorRefused, MutatorUnavailable
from mutator.models import MutationRequest
from mutator.reader import StoreReader


class MutatorTimeout(MutatorError):
    """``wait`` ran out of time before the request ended."""

    exit_code = 1


async def send_update(
    temporal: Client,
    reader: StoreReader,
    request_id: str,
    update: str,
    arg: Any,
    update_id: str | None,
) -> MutationRequest:
    """Send a vote or cancel to a live request's workflow.

    Args:
        temporal: The Temporal client.
        reader: Reads the request when its workflow is gone, to say how it ended.
        request_id: The request.
        update: The update's name (``approve``, ``reject``, ``cancel``).
        arg: The update's input model.
        update_id: The update's id (an update sent again with the same id is answered once).

    Returns:
        The request as the update left it.

    Raises:
        MutatorInputError: The workflow refused a field of the message.
        MutatorRefused: The workflow refused the action, or the request has ended.
        MutatorUnavailable: Temporal cannot be reached.
    """
    handle: WorkflowHandle[Any, Any] = temporal.get_workflow_handle(request_workflow_id(request_id))
    try:
        result = await handle.execute_update(
            update, arg, id=update_id, result_type=RequestUpdateResult
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if isinstance(cause, ApplicationError) and cause.type == ERR_INVALID_INPUT:
            # The workflow refused the message itself (a field it cannot take): bad input.
            raise MutatorInputError(message) from None
        raise MutatorRefused(message) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            latest = await reader.get(request_id)
            raise MutatorRefused(
                f"request {request_id} is {latest.status.value}; it can no longer be changed "
                f"({update} refused)"
            ) from None
        raise MutatorUnavailable(f"Temporal refused the {update}: {exc}") from exc
    request: MutationRequest = result.request
    return request


async def await_result(
    temporal: Client, reader: StoreReader, request_id: str, timeout: float | None
) -> None:
    """Wait for the request's workflow to end.

    Args:
        temporal: The Temporal client.
        reader: Reads the request to say where it stands when the time runs out.
        request_id: The request.
        timeout: The most seconds to wait; None waits as long as it takes.

    Raises:
        MutatorTimeout: It had not ended after ``timeout`` seconds.
        MutatorUnavailable: Temporal cannot be reached.
    """
    handle = temporal.get_workflow_handle(
        request_workflow_id(request_id), result_type=RequestWorkflowResult
    )
    try:
        await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        found = await asyncio.to_thread(reader.store.get_request, request_id)
        still = (
            f"{found.status.value}"
            + (f" ({found.pending_reason.value})" if found.pending_reason else "")
            if found is not None
            else "waiting for a worker to evaluate it"
        )
        raise MutatorTimeout(f"request {request_id} is still {still} after {timeout:g}s") from None
    except RPCError as exc:
        # NOT_FOUND: the workflow is gone, so the request has ended and the store says how.
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise MutatorUnavailable(f"Temporal refused to wait: {exc}") from exc


async def workflow_exists(temporal: Client, request_id: str) -> bool:
    """Whether the request's workflow exists, evaluated (stored) by a worker or not yet.

    Raises:
        MutatorUnavailable: Temporal cannot be reached.
    """
    try:
        await temporal.get_workflow_handle(request_workflow_id(request_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise MutatorUnavailable(f"Temporal refused to describe {request_id}: {exc}") from exc
    return True
