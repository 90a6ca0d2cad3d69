"""The connection to the store's database: engine, connections, writers, schema.

Every other part of the store reaches the database through a ``Database``: ``connect`` for
reads, ``write`` for write transactions. Here an unreachable database becomes
MutatorUnavailable, SQLite's writers queue in this process instead of polling the file lock,
and the schema is checked and migrated (Alembic is loaded only to migrate, or when the
cheap version check fails, so read commands never import it).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, ProgrammingError

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.store import statements as sql

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision. Every command checks the database is at it; reading one
# row is much cheaper than loading Alembic's scripts (tests/mutator/test_listing.py keeps the
# two equal).
SCHEMA_HEAD = "0010"

_ALEMBIC_LOCK = threading.Lock()
# Any constant: the key of the PostgreSQL advisory lock that serializes schema upgrades.
_MIGRATE_LOCK = 0x6D757461746F72

# How long a SQLite connection waits for another writer (or process) to let go.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class Database:
    """One engine and the ways to use it: reads, write transactions, the schema."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine``; SQLite writers of this process queue on one lock."""
        self.engine = engine
        # SQLite has one writer at a time; a waiting writer polls with growing sleeps.
        # Writers of this process queue here instead and start the moment the lock frees.
        self._writers: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @property
    def url(self) -> str:
        """The database URL, its password hidden."""
        return _safe(self.engine.url)

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    @contextmanager
    def connect(self, doing: str, *, write: bool = False) -> Iterator[Connection]:
        """A connection; an unreachable database becomes MutatorUnavailable.

        ``doing`` completes the error message ("cannot reach the database ... to <doing>").
        ``write``: its transactions are writes (on SQLite: BEGIN IMMEDIATE, so writers queue
        on the lock instead of deadlocking on a lock upgrade).
        """
        try:
            conn = self.engine.connect()
        except ProgrammingError as exc:  # psycopg: an unknown option in the URL's query
            raise MutatorInputError(
                f"the database URL {self.url} is refused by the driver: "
                f"{str(exc.orig).strip()}. The URL's query options are passed to the driver "
                "as libpq connection parameters (see docs/operations.md)."
            ) from None
        except OperationalError as exc:
            ssl = "ssl" in str(exc.orig).lower()
            raise MutatorUnavailable(
                f"cannot reach the database {self.url} to {doing}: {exc.orig}. "
                + (
                    CONNECTION_OPTIONS_HINT
                    if ssl
                    else "Start the database or point --db / MUTATOR_DATABASE_URL at a running one."
                )
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

    @contextmanager
    def write(self, doing: str = "write") -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._writers, self.connect(doing, write=True) as conn, conn.begin():
            yield conn

    # -- schema -------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest revision (idempotent, safe to run concurrently)."""
        from alembic import command

        # Alembic's context is module-global: one upgrade at a time in this process.
        with _ALEMBIC_LOCK, self.connect("migrate the schema", write=True) as conn:
            if conn.dialect.name == "postgresql":
                # Concurrent upgrades queue here instead of racing to CREATE TABLE; on SQLite
                # the write transaction's BEGIN IMMEDIATE serializes them.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
            command.upgrade(_alembic_config(conn), revision)
            conn.commit()

    def schema_status(self) -> tuple[str | None, str]:
        """(current revision, newest revision)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() or ""
        with self.connect("read the schema version") as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": "mutator_alembic_version"}
            )
            return ctx.get_current_revision(), head

    def check_schema(self) -> None:
        """Raise MutatorUnavailable unless the database is reachable and fully migrated."""
        try:
            with self.connect("read the schema version") as conn:
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


# The URL's query options go to the driver unchanged (psycopg: libpq's connection
# parameters, e.g. sslmode, sslrootcert, sslcert, sslkey, connect_timeout).
CONNECTION_OPTIONS_HINT = (
    "Check the URL's TLS options (sslmode, sslrootcert, sslcert, sslkey: libpq's connection "
    "parameters, see docs/operations.md) against the server's TLS set-up."
)


def engine_from_url(url: str) -> Engine:
    """The engine of a database URL; SQLite's writers serialized (see ``Database``)."""
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
            connect_args=_connect_args(parsed, is_sqlite),
        )
    except (ArgumentError, ImportError) as exc:
        raise MutatorInputError(
            f"unsupported database URL {_safe(parsed)}: {exc}; "
            "use sqlite:///path or postgresql+psycopg://user@host/db"
        ) from exc
    if is_sqlite:
        _serialize_sqlite_writers(engine)
    return engine


def _connect_args(url: URL, is_sqlite: bool) -> dict[str, Any]:
    """The driver's defaults; what the URL's query sets (connect_timeout=...) wins."""
    if is_sqlite:
        return {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    return {} if "connect_timeout" in url.query else {"connect_timeout": 5}


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting out another process that holds the file.

    Two processes opening a new database at once (two workers, or a worker and
    ``mutator db upgrade``) both switch it to WAL. SQLite can answer "database is locked" to
    one of them at once, without calling the busy handler (it would deadlock otherwise), so
    the switch is retried for as long as the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Make SQLite writers queue instead of deadlocking.

    Writers BEGIN IMMEDIATE so they queue on SQLite's lock; readers BEGIN deferred and, with
    WAL, never wait for writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            _switch_to_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mutator_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
