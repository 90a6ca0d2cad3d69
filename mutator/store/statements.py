"""Statements of the hot path, built once.

Building a SQLAlchemy statement and its cache key is most of the Python work of a short
statement; these are built at import and take their values as bound parameters.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select, text, update

from mutator.store.schema import (
    ClaimKind,
    fences,
    requests,
    state_claims,
    state_history,
    states,
)

FENCE_OF_STATE = select(fences.c.token).where(fences.c.state_id == bindparam("state_id"))
INSERT_FENCE = insert(fences)
SET_FENCE = (
    update(fences)
    .where(fences.c.state_id == bindparam("b_state_id"))
    .values(token=bindparam("b_token"))
)

CLAIMS_OF_STATE = select(state_claims.c.owner, state_claims.c.kind, state_claims.c.token).where(
    state_claims.c.state_id == bindparam("state_id")
)
INSERT_CLAIM = insert(state_claims)
DELETE_CLAIM = delete(state_claims).where(
    state_claims.c.state_id == bindparam("state_id"),
    state_claims.c.owner == bindparam("owner"),
    state_claims.c.kind == bindparam("kind"),
)
# A direct claim is consumed only by the attempt holding its current token.
DELETE_DIRECT_CLAIM = delete(state_claims).where(
    state_claims.c.state_id == bindparam("state_id"),
    state_claims.c.owner == bindparam("owner"),
    state_claims.c.kind == ClaimKind.DIRECT.value,
    state_claims.c.token == bindparam("token"),
)

STATE_ROW = select(states.c.version, states.c.data).where(
    states.c.state_id == bindparam("state_id")
)
# The state and the head of its history chain, for a change to chain its history row.
STATE_ROW_CHAINED = select(states.c.version, states.c.data, states.c.history_hash).where(
    states.c.state_id == bindparam("state_id")
)
INSERT_STATE = insert(states)
UPDATE_STATE_IF_AT = (
    update(states)
    .where(states.c.state_id == bindparam("b_state_id"))
    .where(states.c.version == bindparam("b_read_version"))
    .values(
        version=bindparam("b_version"),
        data=bindparam("b_data"),
        updated_at=bindparam("b_updated_at"),
        history_hash=bindparam("b_history_hash"),
    )
)

# The stored revision and the head of the request's decision chain.
REQUEST_HEAD = select(requests.c.revision, requests.c.decision_seq, requests.c.decision_hash).where(
    requests.c.request_id == bindparam("request_id")
)
INSERT_REQUEST = insert(requests)

SCHEMA_VERSION = text("SELECT version_num FROM mutator_alembic_version")

# A watcher's read: the versions of one state above the last one it saw (store/watch.py).
HISTORY_AFTER = (
    select(
        state_history.c.version,
        state_history.c.request_id,
        state_history.c.actor,
        state_history.c.at,
        state_history.c.data,
    )
    .where(
        state_history.c.state_id == bindparam("state_id"),
        state_history.c.version > bindparam("after_version"),
    )
    .order_by(state_history.c.version)
    .limit(bindparam("limit"))
)
# The channel on which a committed change names its state (PostgreSQL only): NOTIFY is
# transactional, so watchers hear of a version when, and only if, it commits.
STATE_VERSIONS_CHANNEL = "mutator_state_versions"
NOTIFY_STATE_VERSION = text(f"SELECT pg_notify('{STATE_VERSIONS_CHANNEL}', :state_id)")
