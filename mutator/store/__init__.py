from mutator.store.store import (
    CompareAndSetLost,
    ProjectionConflict,
    Store,
    VersionConflict,
)

__all__ = ["CompareAndSetLost", "ProjectionConflict", "Store", "VersionConflict"]
