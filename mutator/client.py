"""``MutatorClient``: submit, vote on, inspect and wait for governed mutation requests.

The read-only part is ``StoreReader`` (mutator/reader.py), which the client extends; the
submission checks and the workflow start are in mutator/client_submission.py, the votes and
cancels in mutator/client_votes.py (sent, and waited for, by mutator/client_messages.py), the
signed envelopes of submits and votes in mutator/client_signing.py, and the merge behind
``locks()`` in mutator/client_locks.py.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from mutator.admission import ADMISSION_TIMEOUT_SECONDS, admission_timeout_from_env
from mutator.client_checks import CheckCommands
from mutator.client_compensate import CompensateCommands
from mutator.client_locks import read_locks
from mutator.client_messages import MutatorTimeout, await_result, workflow_exists
from mutator.client_schedule import FreezeEnded, end_freeze, wake_for_schedule
from mutator.client_signing import VoteMessage, sign_submission
from mutator.client_simulate import SimulateCommands
from mutator.client_submission import (
    batch_submission,
    check_dependencies_exist,
    single_submission,
    start_request,
)
from mutator.client_votes import VoteCommands
from mutator.errors import MutatorNotFound
from mutator.identity.signing import Signer
from mutator.limits import PayloadLimits, check_name
from mutator.models import BatchItem, BatchMode, LockInfo, MutationRequest, SubmitRequestInput
from mutator.reader import StoreReader
from mutator.settings import DEFAULT_DATABASE_URL, TASK_QUEUE
from mutator.store import Store
from mutator.temporal import connect_temporal
from mutator.temporal_tls import TemporalTLS

__all__ = ["MutatorClient", "MutatorTimeout", "StoreReader", "TemporalTLS", "VoteMessage"]


class MutatorClient(VoteCommands, CheckCommands, SimulateCommands, CompensateCommands):
    """Submit, vote on, inspect and wait for governed mutation requests.

    Reads (``get``, ``list``, ``state``, ``history``, ``audit``) come from the SQL store, as
    in ``StoreReader``; commands go to the request's Temporal workflow. Build one with
    ``await MutatorClient.connect(...)`` and ``await client.close()`` it when done.

    Every method raises a subclass of ``MutatorError``: ``MutatorInputError`` for bad input
    (``MutatorNotFound`` for an unknown id), ``MutatorRefused`` when the request cannot take
    the action, ``MutatorUnavailable`` when Temporal or the database cannot be reached, and
    ``MutatorTimeout`` when ``wait`` runs out of time.

    With a ``signer``, every submit, vote and cancel carries the actor's signed envelope
    (docs/security.md): a worker in ``signed`` identity mode requires it, and checks it in
    either mode. A signing problem raises ``SigningKeyError`` (a ``MutatorInputError``)
    before anything is sent.
    """

    def __init__(
        self,
        temporal: Client,
        store: Store,
        *,
        task_queue: str = TASK_QUEUE,
        search_attributes: bool = True,
        limits: PayloadLimits | None = None,
        admission_timeout: float = ADMISSION_TIMEOUT_SECONDS,
        signer: Signer | None = None,
    ) -> None:
        """Wrap a connected Temporal client and an open store (``connect`` builds both).

        Args:
            temporal: The Temporal client of the workers' namespace.
            store: The store the workers write to.
            task_queue: The workers' task queue.
            search_attributes: Set the request's search attributes on its workflow; off
                only where the server cannot register them (the time-skipping test server).
            limits: Size limits checked before anything starts; by default those of the
                environment (MUTATOR_MAX_PAYLOAD_BYTES and friends).
            admission_timeout: Seconds ``submit`` waits for a worker to evaluate a request.
            signer: Signs what this client sends as its actor (``KeyFileSigner``,
                ``SshKeygenSigner`` from ``mutator.identity.signing``); None sends unsigned
                messages, which only a ``claimed``-mode worker accepts.
        """
        super().__init__(store)
        self.temporal = temporal
        self.task_queue = task_queue
        self.limits = limits if limits is not None else PayloadLimits.from_env()
        # After this long without an answer, submit returns the request not yet evaluated
        # (a worker polls) or says that no worker runs.
        self.admission_timeout = admission_timeout
        self.search_attributes = search_attributes
        self.signer = signer
        # Mutation names the workers registered; read again when a name is not in it.
        self._known_mutations: set[str] = set()

    @classmethod
    async def connect(
        cls,
        address: str = "localhost:7233",
        namespace: str = "default",
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        task_queue: str = TASK_QUEUE,
        limits: PayloadLimits | None = None,
        admission_timeout: float | None = None,
        tls: TemporalTLS | bool = False,
        api_key: str | None = None,
        signer: Signer | None = None,
    ) -> MutatorClient:
        """Connect to Temporal and to the store.

        Args:
            address: The Temporal frontend, ``host:port``.
            namespace: The Temporal namespace the workers run in.
            database_url: The SQLAlchemy URL of the store the workers write to.
            task_queue: The workers' task queue.
            limits: Size limits; by default from the environment (MUTATOR_MAX_*), else the
                built-in values.
            admission_timeout: Seconds ``submit`` waits for a worker's evaluation; by
                default MUTATOR_ADMISSION_TIMEOUT_SECONDS, else 30.
            tls: ``True`` for TLS verified against the system's CAs, or a `TemporalTLS`
                (private CA, client certificate and key for mutual TLS, server name).
            api_key: A Temporal API key (Temporal Cloud); it turns TLS on.
            signer: Signs every submit, vote and cancel (see the class); None: unsigned.

        Returns:
            The connected client.

        Raises:
            MutatorInputError: A TLS file is missing, unreadable or wrong, or a certificate
                comes without its key; the message names the option and the file.
            MutatorUnavailable: The store's schema is missing or out of date, either cannot
                be reached, or the TLS handshake fails.
        """
        limits = limits if limits is not None else PayloadLimits.from_env()
        if admission_timeout is None:
            admission_timeout = admission_timeout_from_env()
        store = Store.from_url(database_url)
        try:
            await asyncio.to_thread(store.check_schema)
            temporal = await connect_temporal(address, namespace, tls=tls, api_key=api_key)
        except BaseException:
            store.dispose()
            raise
        return cls(
            temporal,
            store,
            task_queue=task_queue,
            limits=limits,
            admission_timeout=admission_timeout,
            signer=signer,
        )

    # -- commands -----------------------------------------------------------------------

    async def submit(
        self,
        state_id: str,
        mutation: str,
        payload: dict[str, Any],
        *,
        actor: str,
        reason: str = "",
        request_id: str | None = None,
        expected_version: int | None = None,
        after: Sequence[str] = (),
        not_before: datetime | None = None,
        break_glass: bool = False,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> MutationRequest:
        """Ask for one mutation of one state; policies decide whether it runs.

        Returns once a worker has evaluated the request: ``executed`` when it ran at once,
        ``approved`` while it waits its turn on its state, ``pending`` when it needs
        approvals, ``rejected`` when a policy denied it or a validator refused it.

        Args:
            state_id: The state to change.
            mutation: A mutation the workers registered.
            payload: The mutation's arguments (JSON-serialisable).
            actor: Who asks (the requester).
            reason: Why, kept in the audit trail.
            request_id: An id of the caller's choosing; submitting it again returns the
                request it names instead of starting another. Made up when omitted.
            expected_version: The state version the change was computed against; when the
                state moved on, the mutation's ``on_stale`` strategy decides.
            after: Requests that must be executed first: the request waits ``pending``
                (reason ``dependency``) until each is, and is evaluated then; one that ends
                any other way rejects it (``dependency_failed``). Each must exist.
            not_before: Its earliest start (with a UTC offset): approved earlier, it waits
                ``pending`` (reason ``schedule``) until then.
            break_glass: An emergency, by a holder of a break-glass role
                (``app.break_glass``), with a ``reason``: approvals, windows, freezes and
                quotas are bypassed and the break-glass quorum applies instead.
            wait: Wait until the request reaches a final status.
            wait_timeout: With ``wait``, the most seconds to wait (None: no limit).

        Returns:
            The request.

        Raises:
            MutatorInputError: A field is malformed or over its limit, or the mutation is
                not registered.
            MutatorRefused: The request's workflow ended before admission answered, or
                break-glass was refused (nothing is stored).
            MutatorUnavailable: Temporal refused it, or no worker polls the task queue.
            MutatorTimeout: ``wait`` ran out of time.
        """
        submitted = single_submission(
            state_id,
            mutation,
            payload,
            actor=actor,
            reason=reason,
            request_id=request_id,
            expected_version=expected_version,
            limits=self.limits,
            after=after,
            not_before=not_before,
            break_glass=break_glass,
        )
        return await self._submit(
            submitted, wait=wait, wait_timeout=wait_timeout, new_id=request_id is None
        )

    async def end_freeze(self, name: str, *, actor: str) -> FreezeEnded:
        """End the active freeze ``name`` now, and wake the requests it held back.

        Each request ``pending`` (schedule) that the freeze covers is signalled
        ``schedule_changed`` and executes at once (checking the schedule again).

        Args:
            name: The freeze's name.
            actor: Who ends it (kept on the freeze's row).

        Returns:
            The freeze as ended and the ids of the requests woken.

        Raises:
            MutatorInputError: ``actor`` is malformed.
            MutatorNotFound: No freeze of that name is active; nothing changes.
            MutatorUnavailable: Temporal cannot be reached.
        """
        check_name(actor, "actor")
        return await end_freeze(self.temporal, self.store, name, actor, datetime.now(UTC))

    async def wake_for_schedule(self, request_ids: Sequence[str], reason: str) -> list[str]:
        """Signal ``schedule_changed`` to requests ``pending`` (schedule): they execute now.

        ``end_freeze`` does this for the requests a freeze held back.

        Returns:
            The ids of the requests signalled (those that have ended are left out).

        Raises:
            MutatorUnavailable: Temporal refused a signal.
        """
        return await wake_for_schedule(self.temporal, list(request_ids), reason)

    async def submit_batch(
        self,
        items: Sequence[BatchItem | dict[str, Any]],
        *,
        mode: BatchMode | str,
        actor: str,
        reason: str = "",
        request_id: str | None = None,
        after: Sequence[str] = (),
        not_before: datetime | None = None,
        compensate_on_failure: bool = False,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> MutationRequest:
        """Ask for several mutations, possibly over several states, governed as one request.

        Args:
            items: The mutations (``BatchItem`` or dicts of its fields), run in order.
            mode: ``BatchMode`` or its value: ``atomic`` (every item or none), ``sequential``
                (in order, stopping at the first failure) or ``independent`` (each alone).
            actor: Who asks (the requester).
            reason: Why, kept in the audit trail.
            request_id: An id of the caller's choosing (see ``submit``).
            after: Requests that must be executed first (see ``submit``).
            not_before: Its earliest start (see ``submit``); every item's window and the
                freezes hold it back too.
            compensate_on_failure: ``sequential`` only: when an item fails, the items
                already applied are compensated in reverse order (a saga), each recorded on
                its item; the batch ends ``failed``, listing them (docs/changes.md).
            wait: Wait until the request reaches a final status.
            wait_timeout: With ``wait``, the most seconds to wait (None: no limit).

        Returns:
            The batch request; ``item_results`` tells each item's outcome once executed.

        Raises:
            MutatorInputError: The mode, an item or a field is malformed or over its limit,
                or a mutation is not registered.
            MutatorRefused: The request's workflow ended before admission answered.
            MutatorUnavailable: Temporal refused it, or no worker polls the task queue.
            MutatorTimeout: ``wait`` ran out of time.
        """
        submitted = batch_submission(
            items,
            mode=mode,
            actor=actor,
            reason=reason,
            request_id=request_id,
            limits=self.limits,
            after=after,
            not_before=not_before,
            compensate_on_failure=compensate_on_failure,
        )
        return await self._submit(
            submitted, wait=wait, wait_timeout=wait_timeout, new_id=request_id is None
        )

    async def _submit(
        self,
        submitted: SubmitRequestInput,
        *,
        wait: bool,
        wait_timeout: float | None,
        new_id: bool,
    ) -> MutationRequest:
        # A request id given by the caller may name a request that exists (resubmission);
        # one this client just made up (64 random bits) cannot.
        existing = (
            None
            if new_id
            else await asyncio.to_thread(self.store.get_request, submitted.request_id)
        )
        if existing is None:
            await self.check_known(submitted)
            await check_dependencies_exist(self.temporal, self.store, submitted)
            if self.signer is not None:
                submitted = sign_submission(submitted, self.signer)
            existing = await start_request(
                self.temporal,
                submitted,
                task_queue=self.task_queue,
                search_attributes=self.search_attributes,
                admission_timeout=self.admission_timeout,
            )
            if existing is None:
                # The request ended and its workflow id is closed: the store has the record.
                existing = await self.get(submitted.request_id)
        if wait and not existing.status.is_terminal:
            return await self.wait(existing.request_id, timeout=wait_timeout)
        return existing

    async def wait(self, request_id: str, *, timeout: float | None = None) -> MutationRequest:
        """Wait until the request reaches a final status and return it.

        Args:
            request_id: The request.
            timeout: The most seconds to wait; None waits as long as it takes.

        Returns:
            The request in its final status (executed, rejected, cancelled, expired, failed
            or not applied).

        Raises:
            MutatorNotFound: No request has that id.
            MutatorTimeout: It had not ended after ``timeout`` seconds.
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        current = await asyncio.to_thread(self.store.get_request, request_id)
        if current is None and not await workflow_exists(self.temporal, request_id):
            raise MutatorNotFound(f"request_id: no request with id {request_id!r}")
        if current is not None and current.status.is_terminal:
            return current
        await await_result(self.temporal, self, request_id, timeout)
        return await self.get(request_id)

    async def locks(self) -> builtins.list[LockInfo]:
        """Every state in use now, sorted by state id.

        Returns:
            Open lanes (holder, fencing token, queue, lease) and direct executions (a lone
            request holding its state without a lane). A lane that does not answer within
            a few seconds is listed with a note saying so.

        Raises:
            MutatorUnavailable: Temporal or the store cannot be reached.
        """
        return await read_locks(self.temporal, self.store)
