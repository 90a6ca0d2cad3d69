from mutator.store.store import (
    CompareAndSetLost,
    FencedOut,
    ProjectionConflict,
    Store,
    VersionConflict,
)

__all__ = ["CompareAndSetLost", "FencedOut", "ProjectionConflict", "Store", "VersionConflict"]
