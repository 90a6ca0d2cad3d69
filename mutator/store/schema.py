"""Tables of the SQL store. Alembic migrations under ``migrations/`` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

states = Table(
    "mutator_states",
    metadata,
    Column("state_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

state_history = Table(
    "mutator_state_history",
    metadata,
    Column("state_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=False),
    PrimaryKeyConstraint("state_id", "version"),
    UniqueConstraint("request_id", "state_id", name="uq_history_request_state"),
)

requests = Table(
    "mutator_requests",
    metadata,
    Column("request_id", String(200), primary_key=True),
    Column("state_id", String(200), nullable=False, index=True),
    Column("mutation", String(200), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("revision", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
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
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("request_id", "seq"),
)

mutation_catalog = Table(
    "mutator_mutation_catalog",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("on_stale", String(20), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

fences = Table(
    "mutator_fences",
    metadata,
    Column("state_id", String(200), primary_key=True),
    Column("token", Integer, nullable=False),
)
