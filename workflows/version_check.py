"""Version resolution of a request that waited, as its own activity before it executes.

An operator reading the request's event history sees the outcome as the activity's result
(``current``, or ``stale`` with the strategy taken). The execution's compare-and-set stays
the last guard: a state that moves after this check is a ``conflict`` at execution.
A request allowed at once skips it: its execution resolves its version (fast path).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from mutator.contracts import (
        RESOLVE_VERSION_ACTIVITY,
        ResolveRequestVersionInput,
        VersionResolution,
    )
    from mutator.gates import GateKind
    from mutator.models import MutationRequest, OnStale

# Histories of requests approved before this activity existed resolve in the execution.
RESOLVE_VERSION_PATCH = "resolve-version-activity"


def waited(request: MutationRequest) -> bool:
    """Whether the request waited before it could execute: approvals, checks, schedule, quota."""
    return bool(request.required_approvals or request.required_checks) or any(
        gate.kind in (GateKind.SCHEDULE, GateKind.QUOTA) for gate in request.gates
    )


async def resolve_version(request: MutationRequest, on_stale: OnStale) -> VersionResolution | None:
    """Resolve the version of a single request that waited; None for any other request."""
    if request.items or not waited(request) or not workflow.patched(RESOLVE_VERSION_PATCH):
        return None
    workflow.set_current_details(f"**approved**\n\nresolving the version of {request.state_id}")
    resolution: VersionResolution = await workflow.execute_activity(
        RESOLVE_VERSION_ACTIVITY,
        ResolveRequestVersionInput(
            request_id=request.request_id,
            state_id=request.state_id,
            base_version=request.base_version,
            on_stale=on_stale,
        ),
        result_type=VersionResolution,
        start_to_close_timeout=timedelta(seconds=30),
    )
    return resolution
