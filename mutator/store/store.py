"""The SQL store: the durable record of states, their history, requests and decisions.

``Store`` is the one object callers hold; it composes the parts, each owning one concern:
``Database`` (engine, connections, SQLite writers, schema; database.py), ``Catalog``
(registered mutations), ``States`` (states, history, compare-and-set changes),
``Requests`` (requests, decisions, listings, audit), ``Claims`` (claims and fences) and
``Freezes`` (freezes, reached as ``store.freezes``), ``Deliveries`` (webhook delivery
attempts, ``store.deliveries``), ``Quotas`` (quota uses, ``store.quotas``) and ``Outbox``
(side-effect events and their handlers' attempts, ``store.outbox``).

Synchronous SQLAlchemy: activities run in the worker's thread pool, the client calls it
through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mutator.effects import EmittedEvent
from mutator.listing import RequestPage
from mutator.models import AuditEntry, HistoryEntry, MutationRequest, OnStale, StateView
from mutator.quotas import QuotaUse
from mutator.record import RecordVerification
from mutator.store.catalog import Catalog
from mutator.store.changes import (
    CompareAndSetLost,
    Finalized,
    KnownState,
    StateChange,
    VersionConflict,
)
from mutator.store.claims import Claims, DirectClaim, StateClaim
from mutator.store.database import MIGRATIONS_DIR, SCHEMA_HEAD, Database, engine_from_url
from mutator.store.deliveries import Deliveries
from mutator.store.fences import FencedOut
from mutator.store.freezes import Freezes
from mutator.store.outbox import Outbox
from mutator.store.quotas import Quotas
from mutator.store.requests import ProjectionConflict, Requests
from mutator.store.states import States
from mutator.store.verify import verify_record

if TYPE_CHECKING:
    from mutator.identity.audit import SignatureAudit


class Store:
    """The store's parts behind one object; every method is the part's own."""

    def __init__(self, engine: Engine) -> None:
        """Build the store's parts over ``engine`` (``from_url`` makes one from a URL)."""
        self.database = Database(engine)
        self.catalog = Catalog(self.database)
        self.states = States(self.database)
        self.requests = Requests(self.database)
        self.state_claims = Claims(self.database)
        self.freezes = Freezes(self.database)
        self.deliveries = Deliveries(self.database)
        self.quotas = Quotas(self.database)
        self.outbox = Outbox(self.database)

    @classmethod
    def from_url(cls, url: str) -> Store:
        """The store at a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

        The schema is not checked or created here: see ``check_schema`` and ``migrate``.
        """
        return cls(engine_from_url(url))

    # -- connection and schema (database.py) ---------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return self.database.engine

    @property
    def url(self) -> str:
        """The database URL, its password hidden."""
        return self.database.url

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.database.dispose()

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest revision (idempotent, safe to run concurrently)."""
        self.database.migrate(revision)

    def schema_status(self) -> tuple[str | None, str]:
        """(current revision, newest revision)."""
        return self.database.schema_status()

    def check_schema(self) -> None:
        """Raise MutatorUnavailable unless the database is reachable and fully migrated."""
        self.database.check_schema()

    # -- mutation catalog (catalog.py) ----------------------------------------------------

    def register_mutations(self, on_stale_by_name: dict[str, OnStale]) -> None:
        """Replace the catalog by these mutations (name: on_stale strategy)."""
        self.catalog.register_mutations(on_stale_by_name)

    def registered_mutations(self) -> list[str]:
        """The names of the mutations the workers registered, sorted."""
        return self.catalog.registered_mutations()

    # -- states and history (states.py) ---------------------------------------------------

    def get_state(self, state_id: str, version: int | None = None) -> StateView | None:
        """A state at its current version, or at ``version``; None when it has none."""
        return self.states.get_state(state_id, version)

    def current_version(self, state_id: str) -> int:
        """The state's current version (0: no mutation executed yet)."""
        return self.states.current_version(state_id)

    def history(self, state_id: str) -> list[HistoryEntry]:
        """Every version of the state, oldest first."""
        return self.states.history(state_id)

    def history_after(self, state_id: str, after_version: int, limit: int) -> list[HistoryEntry]:
        """The state's first ``limit`` versions above ``after_version``, oldest first."""
        return self.states.history_after(state_id, after_version, limit)

    def apply(
        self,
        *,
        request: MutationRequest,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        expected_version: int | None,
        fencing_token: int | None = None,
        claim_owner: str | None = None,
        lane_owner: str | None = None,
        known_state: KnownState | None = None,
        quota: QuotaUse | None = None,
        events: Callable[[], Sequence[EmittedEvent]] | None = None,
        ends: Callable[[MutationRequest], MutationRequest] | None = None,
    ) -> MutationRequest:
        """Apply ``change`` to the request's state exactly once; see ``States.apply``."""
        return self.states.apply(
            request=request,
            change=change,
            expected_version=expected_version,
            fencing_token=fencing_token,
            claim_owner=claim_owner,
            lane_owner=lane_owner,
            known_state=known_state,
            quota=quota,
            events=events,
            ends=ends,
        )

    def apply_changes(
        self,
        changes: Sequence[StateChange],
        finalize: Callable[[list[int]], Finalized],
    ) -> list[int]:
        """All of ``changes`` or none, in one transaction (batch items); see changes.py."""
        return self.states.apply_changes(changes, finalize)

    # -- claims and fences (claims.py, fences.py) -----------------------------------------

    def fence(self, state_id: str) -> int:
        """The lowest fencing token the store still accepts for ``state_id`` (0: none yet)."""
        return self.state_claims.fence(state_id)

    def advance_fence(self, state_id: str, token: int) -> int:
        """Refuse every token below ``token`` from now on; returns the fence."""
        return self.state_claims.advance_fence(state_id, token)

    def claim_direct(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> int | None:
        """A direct claim's fencing token, or None when the state is in use: use the lane."""
        return self.state_claims.claim_direct(
            state_id, owner, lease_seconds, fresh_token=fresh_token
        )

    def claim_direct_reading(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> tuple[int, StateView | None, str | None] | None:
        """``claim_direct``, the state under the claim and its history head, in one transaction."""
        return self.state_claims.claim_direct_reading(
            state_id, owner, lease_seconds, fresh_token=fresh_token
        )

    def release_direct(self, state_id: str, owner: str, token: int | None = None) -> None:
        """Give up ``owner``'s direct claim (only under ``token``, when given) unapplied."""
        self.state_claims.release_direct(state_id, owner, token)

    def join_lane(self, state_id: str, owner: str) -> DirectClaim | None:
        """Mark ``owner`` a lane member; another owner's live direct claim, to wait out."""
        return self.state_claims.join_lane(state_id, owner)

    def direct_claim(self, state_id: str) -> DirectClaim | None:
        """The live direct claim on ``state_id``, if any."""
        return self.state_claims.direct_claim(state_id)

    def forget_lane_owners(self, state_id: str, owners: Sequence[str]) -> int:
        """Drop the lane rows of ``owners`` on ``state_id``; how many were dropped."""
        return self.state_claims.forget_lane_owners(state_id, owners)

    def claims(self, state_id: str | None = None) -> list[StateClaim]:
        """Every claim row (of ``state_id`` only, when given), by state and age."""
        return self.state_claims.list_claims(state_id)

    # -- requests and decisions (requests.py) ---------------------------------------------

    def save_request(self, request: MutationRequest) -> None:
        """Write the request projection at ``request.revision`` (optimistic concurrency).

        Writing the revision already stored, or an older one, is a no-op (a retried or late
        activity attempt never moves the projection back); skipping a revision raises
        ProjectionConflict. Decisions beyond those already stored are appended.
        """
        self.requests.save_request(request)

    def get_request(self, request_id: str) -> MutationRequest | None:
        """The request as stored, or None."""
        return self.requests.get_request(request_id)

    def list_requests(
        self,
        *,
        status: str | None = None,
        state_id: str | None = None,
        pending_reason: str | None = None,
        limit: int = 100,
    ) -> list[MutationRequest]:
        """The newest ``limit`` whole requests, optionally of one status, state or reason."""
        return self.requests.list_requests(
            status=status, state_id=state_id, pending_reason=pending_reason, limit=limit
        )

    def list_page(
        self,
        *,
        status: str | None = None,
        state_id: str | None = None,
        mutation: str | None = None,
        requester: str | None = None,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
    ) -> RequestPage:
        """Summaries of the newest ``limit`` matching requests; see ``Requests.list_page``."""
        return self.requests.list_page(
            status=status,
            state_id=state_id,
            mutation=mutation,
            requester=requester,
            limit=limit,
            after=after,
        )

    def audit(
        self, *, state_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest ``limit`` decisions, oldest first."""
        return self.requests.audit(state_id=state_id, request_id=request_id, limit=limit)

    def verify_record(
        self,
        *,
        state_id: str | None = None,
        request_id: str | None = None,
        signatures: SignatureAudit | None = None,
    ) -> RecordVerification:
        """Recompute the record's hash chains (all, or those asked for); see verify.py.

        ``signatures``: also re-verify the stored signatures against its directory.
        """
        with self.database.connect("verify the record") as conn:
            return verify_record(
                conn, state_id=state_id, request_id=request_id, signatures=signatures
            )


__all__ = [
    "MIGRATIONS_DIR",
    "SCHEMA_HEAD",
    "CompareAndSetLost",
    "FencedOut",
    "ProjectionConflict",
    "SQLAlchemyError",
    "Store",
    "VersionConflict",
]
