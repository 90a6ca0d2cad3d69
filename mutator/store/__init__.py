"""The SQL store; ``Store`` composes its parts, one module per concern.

- ``database``: engine and connections, SQLite writer serialization, errors mapped to
  MutatorUnavailable, schema check and migration (``migrations/``, tables in ``schema``).
- ``states``: states and their history; ``changes``: applying changes by compare-and-set.
- ``requests``: requests, their decisions and the audit log; ``listing``: ``list`` pages.
- ``claims`` and ``fences``: who uses a state, and which fencing tokens are still accepted.
- ``chain``: each decision and history row's hash, chained to the row before it;
  ``verify``: recomputing the chains (``mutator audit --verify``); ``signatures``:
  re-checking the stored signatures; ``proofs``: a signed decision's proof columns.
- ``catalog``: the registered mutations. ``statements``: the hot path's prebuilt SQL.
- ``freezes``: the freezes declared with `mutator freeze` (docs/gates.md).
- ``deliveries``: each attempt to deliver a webhook event (docs/notifications.md).
- ``outbox``: the events handlers emit, written with their change, and each attempt to run
  an ``@app.effect`` handler on one (docs/changes.md#side-effects).
- ``quotas``: quota slots, taken in an execution's transaction (docs/gates.md).
"""

from mutator.store.changes import CompareAndSetLost, StateChange, VersionConflict
from mutator.store.claims import DirectClaim, StateClaim
from mutator.store.fences import FencedOut
from mutator.store.quotas import QuotaFull
from mutator.store.requests import ProjectionConflict
from mutator.store.store import Store

__all__ = [
    "CompareAndSetLost",
    "DirectClaim",
    "FencedOut",
    "ProjectionConflict",
    "QuotaFull",
    "StateChange",
    "StateClaim",
    "Store",
    "VersionConflict",
]
