"""The SQL store: the durable record of states, their history, requests and decisions.

Synchronous SQLAlchemy: activities run in the worker's thread pool, the client calls it
through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.listing import RequestPage
from mutator.models import (
    AuditEntry,
    DecisionCategory,
    HistoryEntry,
    MutationRequest,
    StateView,
)
from mutator.store import claims as _claims
from mutator.store import listing as _listing
from mutator.store import statements as sql
from mutator.store.changes import (
    CompareAndSetLost,
    FencedOut,
    StateChange,
    VersionConflict,
    apply_changes,
    raise_fence,
    read_fence,
)
from mutator.store.claims import DirectClaim, StateClaim
from mutator.store.listing import touches
from mutator.store.schema import (
    decisions,
    mutation_catalog,
    requests,
    state_history,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision. Every command checks the database is at it; reading one
# row is much cheaper than loading Alembic's scripts (tests/test_listing.py keeps the two equal).
SCHEMA_HEAD = "0004"


class ProjectionConflict(Exception):
    """The stored request revision does not follow from the one being written."""


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time; a waiting writer polls with growing sleeps.
        # Writers of this process queue here instead and start the moment the lock frees.
        self._writers: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @classmethod
    def from_url(cls, url: str) -> Store:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise MutatorInputError(f"not a database URL: {url!r} ({exc})") from exc
        if parsed.drivername == "postgresql":
            # The driver that is installed with Mutator, not SQLAlchemy's default psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MutatorUnavailable(
                    f"cannot create the directory of the SQLite database {directory}: {exc}"
                ) from exc
        try:
            engine = create_engine(
                parsed,
                # No ping before every checkout (it cost a fifth of a request's worker CPU on
                # PostgreSQL): a connection that died with a database restart fails its
                # statement once, SQLAlchemy then replaces the pool's connections, and the
                # activity is retried by Temporal.
                pool_pre_ping=False,
                pool_recycle=-1 if is_sqlite else 1800,
                connect_args={"timeout": 30} if is_sqlite else {"connect_timeout": 5},
            )
        except (ArgumentError, ImportError) as exc:
            raise MutatorInputError(
                f"unsupported database URL {_safe(parsed)}: {exc}; "
                "use sqlite:///path or postgresql+psycopg://user@host/db"
            ) from exc
        if is_sqlite:
            _serialize_sqlite_writers(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------

    def _alembic_config(self, connection: Connection) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest revision (idempotent, safe to run concurrently)."""
        from alembic import command

        # Alembic's context is module-global: one upgrade at a time in this process.
        with _ALEMBIC_LOCK, self._connect("migrate the schema", write=True) as conn:
            if conn.dialect.name == "postgresql":
                # Concurrent upgrades queue here instead of racing to CREATE TABLE; on SQLite
                # the write transaction's BEGIN IMMEDIATE serializes them.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
            command.upgrade(self._alembic_config(conn), revision)
            conn.commit()

    def schema_status(self) -> tuple[str | None, str]:
        """(current revision, newest revision)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() or ""
        with self._connect("read the schema version") as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": "mutator_alembic_version"}
            )
            return ctx.get_current_revision(), head

    def check_schema(self) -> None:
        """Raise MutatorUnavailable unless the database is reachable and fully migrated."""
        try:
            with self._connect("read the schema version") as conn:
                current = conn.execute(sql.SCHEMA_VERSION).scalar_one_or_none()
        except DBAPIError:
            current = None  # no version table yet: the full check below says what to do
        if current == SCHEMA_HEAD:
            return
        from alembic.script import ScriptDirectory

        current, head = self.schema_status()
        if current == head:
            return
        known = {s.revision for s in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
        if current is not None and current not in known:
            raise MutatorUnavailable(
                f"the database {self.url} is at schema revision {current}, which this Mutator "
                f"does not know (it needs {head}): upgrade Mutator to the version that wrote it"
            )
        raise MutatorUnavailable(
            f"the database {self.url} is at schema revision {current or 'none'}, "
            f"this Mutator needs {head}: run `mutator db upgrade` (with the same --db)"
        )

    @contextmanager
    def _connect(self, doing: str, *, write: bool = False) -> Iterator[Connection]:
        """A connection; an unreachable database becomes MutatorUnavailable.

        ``write``: its transactions are writes (on SQLite: BEGIN IMMEDIATE, so writers queue
        on the lock instead of deadlocking on a lock upgrade).
        """
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise MutatorUnavailable(
                f"cannot reach the database {self.url} to {doing}: {exc.orig}. "
                "Start the database or point --db / MUTATOR_DATABASE_URL at a running one."
            ) from exc
        with conn:
            if write:
                conn.execution_options(mutator_write=True)
            try:
                yield conn
            except OperationalError as exc:
                if not exc.connection_invalidated:
                    raise
                # The database restarted under a pooled connection; the pool has been
                # renewed, so the caller's next try gets a fresh connection.
                raise MutatorUnavailable(
                    f"lost the connection to the database {self.url} while trying to {doing} "
                    f"({exc.orig}); trying again is safe"
                ) from exc

    # -- mutation catalog ---------------------------------------------------------------

    def register_mutations(self, on_stale_by_name: dict[str, str]) -> None:
        with self._write("register mutations") as conn:
            conn.execute(mutation_catalog.delete())
            if on_stale_by_name:
                conn.execute(
                    insert(mutation_catalog),
                    [
                        {"name": n, "on_stale": s, "registered_at": _now()}
                        for n, s in on_stale_by_name.items()
                    ],
                )

    def registered_mutations(self) -> list[str]:
        with self._connect("read the registered mutations") as conn:
            return sorted(conn.scalars(select(mutation_catalog.c.name)))

    # -- states -------------------------------------------------------------------------

    def get_state(self, state_id: str, version: int | None = None) -> StateView | None:
        with self._connect("read a state") as conn:
            if version is None:
                return _current_state(conn, state_id)
            row = conn.execute(
                select(state_history.c.version, state_history.c.data).where(
                    state_history.c.state_id == state_id, state_history.c.version == version
                )
            ).one_or_none()
        if row is None:
            return None
        return StateView(state_id=state_id, version=row.version, data=row.data)

    def current_version(self, state_id: str) -> int:
        state = self.get_state(state_id)
        return state.version if state else 0

    def history(self, state_id: str) -> list[HistoryEntry]:
        with self._connect("read a state's history") as conn:
            rows = conn.execute(
                select(state_history)
                .where(state_history.c.state_id == state_id)
                .order_by(state_history.c.version)
            ).all()
        return [
            HistoryEntry(
                version=r.version,
                request_id=r.request_id,
                actor=r.actor,
                at=r.at,
                data=r.data,
            )
            for r in rows
        ]

    def fence(self, state_id: str) -> int:
        """The lowest fencing token the store still accepts for ``state_id`` (0: none yet)."""
        with self._connect("read a fence") as conn:
            return read_fence(conn, state_id) or 0

    def advance_fence(self, state_id: str, token: int) -> int:
        """Refuse every token below ``token`` from now on; returns the fence."""
        with self._write("advance a fence") as conn:
            return raise_fence(conn, state_id, token)

    def apply(
        self,
        *,
        request: MutationRequest,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        expected_version: int | None,
        fencing_token: int | None = None,
        claim_owner: str | None = None,
        lane_owner: str | None = None,
        known_state: tuple[int, dict[str, Any]] | None = None,
    ) -> MutationRequest:
        """Apply ``change`` to the request's state exactly once, by compare-and-set.

        ``change`` runs outside any transaction (a slow handler holds no lock); one
        transaction then writes the new state, its history row, the request (status from
        ``request``, ``resulting_version`` filled in) and its new decisions, provided the
        state is still at the version ``change`` saw and ``fencing_token`` is not below the
        state's fence. A second call for the same request id returns the recorded request
        without applying anything. Raises VersionConflict when ``expected_version`` is
        given and differs, FencedOut when the token is below the fence, and
        CompareAndSetLost when another writer won the race. ``claim_owner``: the change
        runs under that owner's direct claim (token: ``fencing_token``) and consumes it;
        ``lane_owner``: the change is that owner's lane turn, and removes its lane row;
        ``known_state``: (version, data) the caller read (see ``claim_direct_reading``).
        """
        written: list[MutationRequest] = []

        def finalize(versions: list[int]) -> MutationRequest:
            final = request.model_copy(update={"resulting_version": versions[0]}, deep=True)
            if final.decisions and final.decisions[-1].code == "executed":
                final.decisions[
                    -1
                ].reason = f"state {request.state_id} is now at version {versions[0]}"
            written.append(final)
            return final

        step = StateChange(
            key=request.request_id,
            state_id=request.state_id,
            actor=request.requester,
            change=change,
            expected_version=expected_version,
            fencing_token=fencing_token,
            claim_owner=claim_owner,
            lane_owner=lane_owner,
        )
        known = {request.state_id: known_state} if known_state is not None else None
        [version] = apply_changes(self, [step], finalize, known)
        if written:
            return written[0]
        # Recorded by an earlier call: return the request as it was stored with the change.
        stored = self.get_request(request.request_id)
        if stored is not None and stored.resulting_version == version:
            return stored
        return request.model_copy(update={"resulting_version": version})

    def apply_changes(
        self,
        changes: Sequence[StateChange],
        finalize: Callable[[list[int]], MutationRequest | None],
    ) -> list[int]:
        """All of ``changes`` or none, in one transaction (batch items); see changes.py."""
        return apply_changes(self, changes, finalize)

    # -- state claims (claims.py) --------------------------------------------------------

    def claim_direct(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> int | None:
        """A direct claim's fencing token, or None when the state is in use: use the lane."""
        with self._write("claim a state") as conn:
            return _claims.claim_direct(
                conn, state_id, owner, lease_seconds, fresh_token=fresh_token
            )

    def claim_direct_reading(
        self, state_id: str, owner: str, lease_seconds: float, *, fresh_token: bool = False
    ) -> tuple[int, StateView | None] | None:
        """``claim_direct`` and the state as it is under the claim, in one transaction."""
        with self._write("claim a state") as conn:
            token = _claims.claim_direct(
                conn, state_id, owner, lease_seconds, fresh_token=fresh_token
            )
            if token is None:
                return None
            return token, _current_state(conn, state_id)

    def release_direct(self, state_id: str, owner: str, token: int | None = None) -> None:
        """Give up ``owner``'s direct claim (only under ``token``, when given) unapplied."""
        with self._write("release a state claim") as conn:
            _claims.release_direct(conn, state_id, owner, token)

    def join_lane(self, state_id: str, owner: str) -> DirectClaim | None:
        """Mark ``owner`` a lane member; another owner's live direct claim, to wait out."""
        with self._write("join a state lane") as conn:
            return _claims.join_lane(conn, state_id, owner)

    def direct_claim(self, state_id: str) -> DirectClaim | None:
        with self._write("read a direct claim") as conn:
            return _claims.direct_claim(conn, state_id)

    def forget_lane_owners(self, state_id: str, owners: Sequence[str]) -> int:
        with self._write("forget lane owners") as conn:
            return _claims.forget_lane_owners(conn, state_id, owners)

    def claims(self, state_id: str | None = None) -> list[StateClaim]:
        with self._connect("read state claims") as conn:
            return _claims.list_claims(conn, state_id)

    @contextmanager
    def _write(self, doing: str = "write") -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._writers, self._connect(doing, write=True) as conn, conn.begin():
            yield conn

    # -- requests -----------------------------------------------------------------------

    def save_request(self, request: MutationRequest) -> None:
        """Write the request projection at ``request.revision`` (optimistic concurrency).

        Writing the revision already stored, or an older one, is a no-op (a retried or late
        activity attempt never moves the projection back); skipping a revision raises
        ProjectionConflict. Decisions beyond those already stored are appended.
        """
        with self._write("save a request") as conn:
            self._save_request(conn, request)

    def _save_request(self, conn: Connection, request: MutationRequest) -> None:
        stored_revision = conn.execute(
            sql.REQUEST_REVISION, {"request_id": request.request_id}
        ).scalar_one_or_none()
        if stored_revision is not None and stored_revision >= request.revision:
            return
        expected = request.revision - 1
        if (stored_revision or 0) != expected:
            raise ProjectionConflict(
                f"request {request.request_id!r} is stored at revision {stored_revision}, "
                f"cannot write revision {request.revision}"
            )
        body = request.model_dump_json(exclude={"decisions"})
        values = {
            "state_id": request.state_id,
            "mutation": request.mutation,
            "requester": request.requester,
            "status": request.status.value,
            "pending_reason": request.pending_reason.value if request.pending_reason else None,
            "revision": request.revision,
            "body": body,
            "created_at": request.created_at,
            "updated_at": request.updated_at,
        }
        if stored_revision is None:
            conn.execute(sql.INSERT_REQUEST, {"request_id": request.request_id, **values})
        else:
            changed = conn.execute(
                update(requests)
                .where(requests.c.request_id == request.request_id)
                .where(requests.c.revision == expected)
                .values(**values)
            ).rowcount
            if changed != 1:
                raise ProjectionConflict(
                    f"request {request.request_id!r} changed while revision "
                    f"{request.revision} was being written"
                )
        stored = 0
        if stored_revision is not None:
            stored = len(
                conn.execute(
                    select(decisions.c.seq).where(decisions.c.request_id == request.request_id)
                ).all()
            )
        new = request.decisions[stored:]
        if new:
            conn.execute(
                insert(decisions),
                [
                    {
                        "request_id": request.request_id,
                        "seq": stored + i + 1,
                        "state_id": request.state_id,
                        "category": d.category.value,
                        "code": d.code,
                        "actor": d.actor,
                        "reason": d.reason,
                        "at": d.at,
                    }
                    for i, d in enumerate(new)
                ],
            )

    def get_request(self, request_id: str) -> MutationRequest | None:
        with self._connect("read a request") as conn:
            return self._get_request(conn, request_id)

    def _get_request(self, conn: Connection, request_id: str) -> MutationRequest | None:
        body = conn.execute(
            select(requests.c.body).where(requests.c.request_id == request_id)
        ).scalar_one_or_none()
        if body is None:
            return None
        data = json.loads(body)
        data["decisions"] = [
            {
                "category": r.category,
                "code": r.code,
                "actor": r.actor,
                "reason": r.reason,
                "at": r.at,
            }
            for r in conn.execute(
                select(decisions)
                .where(decisions.c.request_id == request_id)
                .order_by(decisions.c.seq)
            )
        ]
        return MutationRequest.model_validate(data)

    def list_requests(
        self, *, status: str | None = None, state_id: str | None = None, limit: int = 100
    ) -> list[MutationRequest]:
        query = (
            select(requests.c.request_id)
            .order_by(requests.c.created_at.desc(), requests.c.request_id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(requests.c.status == status)
        if state_id:
            query = query.where(touches(requests.c.state_id, state_id))
        with self._connect("list requests") as conn:
            ids = list(conn.scalars(query))
            found = [self._get_request(conn, rid) for rid in ids]
        return [r for r in found if r is not None]

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
        """Summaries of the newest ``limit`` matching requests created before ``after``
        ((created_at, request_id) of the previous page's last request); see listing.py."""
        with self._connect("list requests") as conn:
            return _listing.list_page(
                conn,
                _listing.Filters(
                    status=status,
                    state_id=state_id,
                    mutation=mutation,
                    requester=requester,
                ),
                limit=limit,
                after=after,
            )

    def audit(
        self, *, state_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest ``limit`` decisions, oldest first."""
        newest = (decisions.c.at.desc(), decisions.c.request_id.desc(), decisions.c.seq.desc())
        query = select(decisions).order_by(*newest)
        if state_id:
            query = query.where(touches(decisions.c.state_id, state_id))
        if request_id:
            query = query.where(decisions.c.request_id == request_id)
        with self._connect("read the audit log") as conn:
            rows = list(reversed(conn.execute(query.limit(limit)).all()))
        return [
            AuditEntry(
                request_id=r.request_id,
                state_id=r.state_id,
                seq=r.seq,
                category=DecisionCategory(r.category),
                code=r.code,
                actor=r.actor,
                reason=r.reason,
                at=r.at,
            )
            for r in rows
        ]


_ALEMBIC_LOCK = threading.Lock()
# Any constant: the key of the PostgreSQL advisory lock that serializes schema upgrades.
_MIGRATE_LOCK = 0x6D757461746F72


def _current_state(conn: Connection, state_id: str) -> StateView | None:
    row = conn.execute(sql.STATE_ROW, {"state_id": state_id}).one_or_none()
    return StateView(state_id=state_id, version=row.version, data=row.data) if row else None


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Writers BEGIN IMMEDIATE so they queue on SQLite's lock instead of deadlocking;
    readers BEGIN deferred and, with WAL, never wait for writers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mutator_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


__all__ = [
    "CompareAndSetLost",
    "FencedOut",
    "ProjectionConflict",
    "SQLAlchemyError",
    "Store",
    "VersionConflict",
]
