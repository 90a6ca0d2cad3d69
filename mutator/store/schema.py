"""Tables of the SQL store. Alembic migrations under ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that is written and read as an aware UTC datetime.

    SQLite keeps no offset (it would store a +02:00 time's wall clock and read it back
    naive), so every time is converted to UTC before it is written; naive times are taken
    as UTC. Times read back are aware and in UTC on every backend.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The time to write, in UTC (a naive time is taken as UTC)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The time read, aware and in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The rows of batches: a batch's state_id is its states, comma-joined.
BATCH_ROWS = "%,%"

metadata = MetaData()

states = Table(
    "mutator_states",
    metadata,
    Column("state_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The head of the state's history chain: the row_hash of its latest version (chain.py).
    Column("history_hash", String(64), nullable=True),
)

state_history = Table(
    "mutator_state_history",
    metadata,
    Column("state_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
    # SHA-256 chained to the state's previous version (chain.py); NULL: never hashed.
    Column("row_hash", String(64), nullable=True),
    PrimaryKeyConstraint("state_id", "version"),
    UniqueConstraint("request_id", "state_id", name="uq_history_request_state"),
)

requests = Table(
    "mutator_requests",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("state_id", String(200), nullable=False),
    Column("mutation", String(200), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    # Copied from the body so that `list` reads no body.
    Column("pending_reason", String(20), nullable=True),
    # Submitted with break-glass: `list` shows it (migration 0009).
    Column("break_glass", Boolean, nullable=False, server_default=false()),
    Column("revision", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The head of the request's decision chain: its last decision's seq and row_hash.
    Column("decision_seq", Integer, nullable=True),
    Column("decision_hash", String(64), nullable=True),
    # `list`: each filter, then the listing's order (newest first), so a page is an index range.
    Index("ix_mutator_requests_created", "created_at", "request_id"),
    Index("ix_mutator_requests_status_created", "status", "created_at", "request_id"),
    Index("ix_mutator_requests_state_created", "state_id", "created_at", "request_id"),
    # Migration 0004 also makes ix_mutator_requests_batches_created, (created_at, request_id)
    # WHERE state_id LIKE BATCH_ROWS, for `list --state`. It is not declared here: declaring
    # its dialect options would import both SQL dialects into every command.
    Index("ix_mutator_requests_mutation_created", "mutation", "created_at", "request_id"),
    Index("ix_mutator_requests_requester_created", "requester", "created_at", "request_id"),
)

decisions = Table(
    "mutator_decisions",
    metadata,
    Column("request_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("state_id", String(200), nullable=False, index=True),
    Column("category", String(40), nullable=False),
    Column("code", String(60), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    # SHA-256 chained to the request's previous decision (chain.py); NULL: never hashed.
    Column("row_hash", String(64), nullable=True),
    # A signed person's decision (models.SignedProof): the envelope as RFC 8785 JSON, the
    # armored SSHSIG signature and the key's fingerprint; all NULL when the identity was
    # claimed, and for system decisions (migration 0006).
    Column("proof_envelope", Text, nullable=True),
    Column("proof_signature", Text, nullable=True),
    Column("proof_fingerprint", String(100), nullable=True),
    PrimaryKeyConstraint("request_id", "seq"),
)

mutation_catalog = Table(
    "mutator_mutation_catalog",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("on_stale", String(20), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
)

fences = Table(
    "mutator_fences",
    metadata,
    Column("state_id", String(200), primary_key=True),
    Column("token", Integer, nullable=False),
)


class ClaimKind(StrEnum):
    """Who holds a row of ``state_claims``; the value is what the ``kind`` column stores."""

    DIRECT = "direct"  # an allowed request executing at once on a free state
    LANE = "lane"  # a request queued on (or holding) the state's lane


state_claims = Table(
    "mutator_state_claims",
    metadata,
    Column("state_id", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("kind", String(10), nullable=False),  # a ClaimKind
    Column("token", Integer, nullable=True),  # direct claims: their fencing token
    Column("claimed_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),  # direct claims: end of the lease
    PrimaryKeyConstraint("state_id", "owner"),
)

# Freezes (mutator/schedule/freezes.py): one row per `freeze start`, never deleted; `freeze
# end` fills ended_by and ended_at. The rows are the freezes' audit trail (migration 0007).
freezes = Table(
    "mutator_freezes",
    metadata,
    Column("freeze_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("mutations", String(200), nullable=False),
    Column("states", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", UTCDateTime(), nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_by", String(200), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Index("ix_mutator_freezes_name", "name", "until"),
)

# Webhook deliveries (mutator/notifications.py): one row per attempt to deliver an event,
# never changed (migration 0008). `mutator deliveries` reads them.
deliveries = Table(
    "mutator_webhook_deliveries",
    metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(220), nullable=False),  # 220 since 0010 (effects' ids)
    Column("event_type", String(100), nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=False),
    Column("delivered", Integer, nullable=False),  # 1 delivered, 0 not
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_mutator_webhook_deliveries_request", "request_id", "delivery_id"),
)

# One row per quota key (mutation, key kind, value; mutator/quotas.py): locked FOR UPDATE
# by an execution that takes a slot, so that executions of one key count one at a time
# (on SQLite the write transaction's lock does it). Migration 0009.
quota_keys = Table(
    "mutator_quota_keys",
    metadata,
    Column("quota_key", Text, primary_key=True),
)

# One row per execution that took a slot of a quota, written in the execution's own
# transaction; rows that left every window are deleted as slots are taken.
quota_uses = Table(
    "mutator_quota_uses",
    metadata,
    Column("use_id", Integer, primary_key=True, autoincrement=True),
    Column("quota_key", Text, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("used_at", UTCDateTime(), nullable=False),
    Index("ix_mutator_quota_uses_key", "quota_key", "used_at"),
)

# The outbox (mutator/effects.py): the events a change's handler emitted, written in the
# change's transaction, never changed (migration 0010). ``seq`` keeps the commit order.
effects = Table(
    "mutator_effects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(220), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("state_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_mutator_effects_request", "request_id", "seq"),
)

# Each attempt to run an ``@app.effect`` handler on an event (migration 0010); webhook
# attempts of the same events are in ``deliveries``.
effect_attempts = Table(
    "mutator_effect_attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(220), nullable=False),
    Column("handler", String(300), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("delivered", Integer, nullable=False),  # 1 the handler returned, 0 it raised
    Column("error", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_mutator_effect_attempts_event", "event_id", "attempt_id"),
)
