from mutator.store.changes import CompareAndSetLost, FencedOut, StateChange, VersionConflict
from mutator.store.store import ProjectionConflict, Store

__all__ = [
    "CompareAndSetLost",
    "FencedOut",
    "ProjectionConflict",
    "StateChange",
    "Store",
    "VersionConflict",
]
