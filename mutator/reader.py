"""``StoreReader``: reads from the SQL store alone, without Temporal.

The read commands (`show`, `list`, `state`, `history`, `audit`, `watch`) use it, so they
answer while Temporal is down and never import the Temporal SDK; ``MutatorClient`` extends
it.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from mutator.client_watch import watch_state
from mutator.effects import EffectRecord
from mutator.errors import MutatorInputError, MutatorNotFound
from mutator.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, RequestPage, decode_cursor
from mutator.models import AuditEntry, HistoryEntry, MutationRequest, RequestStatus, StateView
from mutator.notifications import Delivery
from mutator.record import RecordVerification
from mutator.store import Store

if TYPE_CHECKING:
    from mutator.identity.audit import SignatureAudit


class StoreReader:
    """Reads from the SQL store alone: they keep working while Temporal is down."""

    def __init__(self, store: Store) -> None:
        """Read from ``store``."""
        self.store = store

    async def close(self) -> None:
        """Release the store's connections."""
        await asyncio.to_thread(self.store.dispose)

    async def get(self, request_id: str) -> MutationRequest:
        """The request as stored.

        Args:
            request_id: The request.

        Returns:
            The whole request, with its decisions.

        Raises:
            MutatorNotFound: No worker has stored a request with that id.
            MutatorUnavailable: The store cannot be reached.
        """
        found = await asyncio.to_thread(self.store.get_request, request_id)
        if found is None:
            raise MutatorNotFound(f"request_id: no request with id {request_id!r}")
        return found

    async def list(
        self,
        *,
        status: RequestStatus | str | None = None,
        state_id: str | None = None,
        mutation: str | None = None,
        requester: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        after: str | None = None,
    ) -> RequestPage:
        """One page of request summaries, newest first.

        Args:
            status: Only requests in this status.
            state_id: Only requests of this state.
            mutation: Only requests of this mutation.
            requester: Only requests of this requester.
            limit: The page's size, 1 to 10,000.
            after: The previous page's ``next_cursor``; None for the first page.

        Returns:
            The page; ``remaining`` counts the matching requests past it.

        Raises:
            MutatorInputError: ``status``, ``limit`` or ``after`` is not valid.
            MutatorUnavailable: The store cannot be reached.
        """
        if status is not None:
            try:
                status = RequestStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in RequestStatus)
                raise MutatorInputError(
                    f"status: {status!r} is not a status (one of {allowed})"
                ) from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise MutatorInputError(f"limit: {limit} is not between 1 and {MAX_LIST_LIMIT}")
        keyset = decode_cursor(after) if after is not None else None
        return await asyncio.to_thread(
            self.store.list_page,
            status=status.value if status else None,
            state_id=state_id,
            mutation=mutation,
            requester=requester,
            limit=limit,
            after=keyset,
        )

    async def state(self, state_id: str, *, version: int | None = None) -> StateView:
        """A state, at its current version or at ``version``.

        Raises:
            MutatorNotFound: No mutation of the state executed yet, or it has no such version.
            MutatorUnavailable: The store cannot be reached.
        """
        found = await asyncio.to_thread(self.store.get_state, state_id, version)
        if found is None:
            if version is None:
                raise MutatorNotFound(f"state_id: no state {state_id!r} (no mutation executed yet)")
            raise MutatorNotFound(f"version: state {state_id!r} has no version {version}")
        return found

    async def history(self, state_id: str) -> builtins.list[HistoryEntry]:
        """Every version of a state, oldest first, with the request that made it.

        Raises:
            MutatorUnavailable: The store cannot be reached.
        """
        return await asyncio.to_thread(self.store.history, state_id)

    def watch(
        self, state_id: str, from_version: int | None = None
    ) -> AsyncGenerator[HistoryEntry, None]:
        """Each new version of a state, as it commits: ``async for entry in client.watch(s)``.

        Args:
            state_id: The state; one with no version yet is waited for.
            from_version: First every stored version above it, in order, then the new ones;
                None: only versions committed from now on. After a disconnection, pass the
                last version received: nothing is missed or repeated.

        Returns:
            An async iterator of history entries (version, request_id, actor, at, data) that
            never ends by itself; close it (``contextlib.aclosing``) to release its
            connection at once.

        Raises:
            MutatorInputError: ``from_version`` is negative or above the current version
                (raised by the first ``__anext__``).
            MutatorUnavailable: The store cannot be reached, or the connection was lost.
        """
        return watch_state(self.store, state_id, from_version)

    async def deliveries(
        self, *, request_id: str | None = None, limit: int = 1000
    ) -> builtins.list[Delivery]:
        """The newest ``limit`` webhook delivery attempts (of ``request_id``), oldest first.

        Raises:
            MutatorUnavailable: The store cannot be reached.
        """
        return await asyncio.to_thread(
            self.store.deliveries.list, request_id=request_id, limit=limit
        )

    async def effects(
        self, *, request_id: str | None = None, limit: int = 1000
    ) -> builtins.list[EffectRecord]:
        """The newest ``limit`` side-effect events (of ``request_id``), in commit order.

        Each comes with its handler attempts and its webhook attempts.

        Raises:
            MutatorUnavailable: The store cannot be reached.
        """
        return await asyncio.to_thread(effect_records, self.store, request_id, limit)

    async def audit(
        self, *, state_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> builtins.list[AuditEntry]:
        """The newest ``limit`` decisions, oldest first.

        Args:
            state_id: Only the decisions of this state's requests.
            request_id: Only this request's decisions.
            limit: The most decisions returned.

        Returns:
            The decisions.

        Raises:
            MutatorNotFound: ``request_id`` names no request.
            MutatorUnavailable: The store cannot be reached.
        """
        if request_id is not None:
            await self.get(request_id)
        return await asyncio.to_thread(
            self.store.audit, state_id=state_id, request_id=request_id, limit=limit
        )

    async def verify_audit(
        self,
        *,
        state_id: str | None = None,
        request_id: str | None = None,
        signatures: SignatureAudit | None = None,
    ) -> RecordVerification:
        """Recompute the tamper-evident record's hash chains and report what does not fit.

        Args:
            state_id: Only this state's history and its requests' decisions.
            request_id: Only this request's decisions.
            signatures: Also re-verify every stored signature against its directory's keys
                (no time or nonce check), and with ``required`` report a person's decision
                without one; None: signatures are not checked.

        Returns:
            The rows checked and every row edited, deleted, inserted or reordered, then
            every signature problem (``ok`` is True when there is none).

        Raises:
            MutatorNotFound: ``request_id`` names no request and has no decision.
            MutatorUnavailable: The store cannot be reached.
        """
        report = await asyncio.to_thread(
            self.store.verify_record,
            state_id=state_id,
            request_id=request_id,
            signatures=signatures,
        )
        if request_id is not None and report.decisions == 0 and not report.problems:
            await self.get(request_id)
        return report


def effect_records(store: Store, request_id: str | None, limit: int) -> list[EffectRecord]:
    """The newest ``limit`` events (of ``request_id``), each with what became of it.

    Its handler attempts, and its webhook attempts (the deliveries with the event's id).
    """
    events = store.outbox.events(request_id=request_id, limit=limit)
    ids = [e.event_id for e in events]
    attempts = store.outbox.attempts(ids)
    requests = {e.request_id for e in events}
    sent = [d for r in sorted(requests) for d in store.deliveries.list(request_id=r)]
    return [
        EffectRecord(
            event=e,
            attempts=[a for a in attempts if a.event_id == e.event_id],
            webhook=[d for d in sent if d.event_id == e.event_id],
        )
        for e in events
    ]
