from mutator.store.changes import CompareAndSetLost, FencedOut, StateChange, VersionConflict
from mutator.store.claims import DirectClaim, StateClaim
from mutator.store.store import ProjectionConflict, Store

__all__ = [
    "CompareAndSetLost",
    "DirectClaim",
    "FencedOut",
    "ProjectionConflict",
    "StateChange",
    "StateClaim",
    "Store",
    "VersionConflict",
]
