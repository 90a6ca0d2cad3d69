"""Version resolution: is a state still at the version a request was judged on?

A request that waited (for approvals) runs ``resolve_request_version`` as its own activity
before it queues for execution, so its event history shows the outcome; a batch resolves
all its items at once with ``resolve_versions``. Either way the execution's compare-and-set
stays the last guard: the state may move between resolution and execution.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from mutator.contracts import (
    RESOLVE_VERSION_ACTIVITY,
    RESOLVE_VERSIONS_ACTIVITY,
    ResolveRequestVersionInput,
    ResolveVersionInput,
    ResolveVersionResult,
    ResolveVersionsInput,
    ResolveVersionsResult,
    VersionOutcome,
    VersionResolution,
)
from mutator.store import Store


class VersionResolutionActivities:
    """The version-resolution activities, reading the store's current versions."""

    def __init__(self, store: Store) -> None:
        """Resolve against the versions in ``store``."""
        self.store = store

    def resolve_version(self, input: ResolveVersionInput) -> ResolveVersionResult:
        """One state's version against a base."""
        current = self.store.current_version(input.state_id)
        stale = input.base_version is not None and input.base_version != current
        return ResolveVersionResult(current_version=current, stale=stale)

    @activity.defn(name=RESOLVE_VERSION_ACTIVITY)
    def resolve_request_version(self, input: ResolveRequestVersionInput) -> VersionResolution:
        """A waited request's state against its base version, and the strategy if stale."""
        resolved = self.resolve_version(
            ResolveVersionInput(state_id=input.state_id, base_version=input.base_version)
        )
        return VersionResolution(
            outcome=VersionOutcome.STALE if resolved.stale else VersionOutcome.CURRENT,
            state_id=input.state_id,
            base_version=input.base_version,
            current_version=resolved.current_version,
            strategy=input.on_stale if resolved.stale else None,
        )

    @activity.defn(name=RESOLVE_VERSIONS_ACTIVITY)
    def resolve_versions(self, input: ResolveVersionsInput) -> ResolveVersionsResult:
        """Every batch item's state against its base version."""
        return ResolveVersionsResult(items=[self.resolve_version(item) for item in input.items])

    def all(self) -> list[Any]:
        """The activities to register on the main task queue."""
        return [self.resolve_request_version, self.resolve_versions]
