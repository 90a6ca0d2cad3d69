"""Side effects of a request: policy evaluation, version resolution, execution, projection."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from mutator.app import MutationApp, UnknownMutationError, ValidationRefused
from mutator.contracts import (
    ERR_FENCED_OUT,
    ERR_MUTATION_FAILED,
    ERR_POLICY_FAILED,
    ERR_UNKNOWN_MUTATION,
    ERR_VALIDATION,
    ERR_VERSION_CONFLICT,
    EVALUATE_ACTIVITY,
    EXECUTE_ACTIVITY,
    RESOLVE_VERSION_ACTIVITY,
    SAVE_REQUEST_ACTIVITY,
    EvaluateInput,
    EvaluateResult,
    ExecuteInput,
    ExecuteResult,
    ResolveVersionInput,
    ResolveVersionResult,
    SaveRequestInput,
    SaveRequestResult,
)
from mutator.models import MutationRequest
from mutator.policies import PolicyContext
from mutator.store import CompareAndSetLost, FencedOut, Store, VersionConflict

# A state written by many auto-approved requests at once: each lost compare-and-set
# re-reads and retries here, cheaper than a full activity retry.
MAX_CAS_ATTEMPTS = 50


class HandlerFailed(Exception):
    """The user's mutation handler raised or returned something that is not a JSON object."""


class RequestActivities:
    def __init__(self, app: MutationApp, store: Store) -> None:
        self.app = app
        self.store = store

    @activity.defn(name=EVALUATE_ACTIVITY)
    def evaluate(self, input: EvaluateInput) -> EvaluateResult:
        req = input.request
        if req.items:
            return self._evaluate_batch(req)
        try:
            mutation = self.app.get(req.mutation)
        except UnknownMutationError as exc:
            raise ApplicationError(str(exc), type=ERR_UNKNOWN_MUTATION, non_retryable=True) from exc
        state = self.store.get_state(req.state_id)
        ctx = PolicyContext(
            state_id=req.state_id,
            mutation=req.mutation,
            payload=req.payload,
            state=dict(state.data) if state else {},
            version=state.version if state else 0,
            requester=req.requester,
        )
        try:
            evaluation = self.app.evaluate(ctx)
        except Exception as exc:
            # A bug in a user's policy must not loop forever; it ends the request with the error.
            raise ApplicationError(
                f"policy evaluation raised {type(exc).__name__}: {exc}",
                type=ERR_POLICY_FAILED,
                non_retryable=True,
            ) from exc
        return EvaluateResult(
            outcome=evaluation.outcome,
            reason=evaluation.reason,
            requirements=evaluation.requirements,
            state_version=ctx.version,
            on_stale=mutation.on_stale,
        )

    def _evaluate_batch(self, req: MutationRequest) -> EvaluateResult:
        contexts = []
        for item in req.items:
            state = self.store.get_state(item.state_id)
            contexts.append(
                PolicyContext(
                    state_id=item.state_id,
                    mutation=item.mutation,
                    payload=item.payload,
                    state=dict(state.data) if state else {},
                    version=state.version if state else 0,
                    requester=req.requester,
                )
            )
        try:
            evaluation = self.app.evaluate_batch(contexts)
        except Exception as exc:
            raise ApplicationError(
                f"policy evaluation raised {type(exc).__name__}: {exc}",
                type=ERR_POLICY_FAILED,
                non_retryable=True,
            ) from exc
        return EvaluateResult(
            outcome=evaluation.outcome,
            reason=evaluation.reason,
            requirements=evaluation.requirements,
            state_version=0,
            on_stale="reject",
            item_versions=[ctx.version for ctx in contexts],
        )

    @activity.defn(name=RESOLVE_VERSION_ACTIVITY)
    def resolve_version(self, input: ResolveVersionInput) -> ResolveVersionResult:
        current = self.store.current_version(input.state_id)
        stale = input.base_version is not None and input.base_version != current
        return ResolveVersionResult(current_version=current, stale=stale)

    @activity.defn(name=EXECUTE_ACTIVITY)
    def execute(self, input: ExecuteInput) -> ExecuteResult:
        req = input.request
        try:
            mutation = self.app.get(req.mutation)
        except UnknownMutationError as exc:
            raise ApplicationError(str(exc), type=ERR_UNKNOWN_MUTATION, non_retryable=True) from exc

        def change(data: dict[str, Any]) -> dict[str, Any]:
            mutation.validate(data, req.payload)
            try:
                new = mutation(data, req.payload)
            except CancelledError:
                raise  # the worker is shutting down or the activity was canceled: not a failure
            except Exception as exc:
                raise HandlerFailed(f"{req.mutation} raised {type(exc).__name__}: {exc}") from exc
            if not isinstance(new, dict):
                raise HandlerFailed(
                    f"{req.mutation} returned {type(new).__name__}, expected a dict (the new state)"
                )
            try:
                json.dumps(new)
            except (TypeError, ValueError) as exc:
                raise HandlerFailed(
                    f"{req.mutation} returned a state that is not JSON: {exc}"
                ) from exc
            return new

        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                applied = self.store.apply(
                    request=req,
                    change=change,
                    expected_version=input.expected_version,
                    fencing_token=input.fencing_token,
                )
                return ExecuteResult(request=applied)
            except FencedOut as exc:
                raise ApplicationError(str(exc), type=ERR_FENCED_OUT, non_retryable=True) from exc
            except VersionConflict as exc:
                raise ApplicationError(
                    str(exc), exc.current, type=ERR_VERSION_CONFLICT, non_retryable=True
                ) from exc
            except ValidationRefused as exc:
                raise ApplicationError(str(exc), type=ERR_VALIDATION, non_retryable=True) from exc
            except HandlerFailed as exc:
                raise ApplicationError(
                    str(exc), type=ERR_MUTATION_FAILED, non_retryable=True
                ) from exc
            except CompareAndSetLost:
                if input.expected_version is not None:
                    current = self.store.current_version(req.state_id)
                    raise ApplicationError(
                        f"state {req.state_id!r} moved to version {current} during execution",
                        current,
                        type=ERR_VERSION_CONFLICT,
                        non_retryable=True,
                    ) from None
                activity.logger.info("compare-and-set lost on %s; retrying", req.state_id)
        raise RuntimeError(f"compare-and-set on {req.state_id!r} lost {MAX_CAS_ATTEMPTS} times")

    @activity.defn(name=SAVE_REQUEST_ACTIVITY)
    def save_request(self, input: SaveRequestInput) -> SaveRequestResult:
        self.store.save_request(input.request)
        return SaveRequestResult(revision=input.request.revision)

    def all(self) -> list[Any]:
        """Everything but the execution, which runs on its own, slot-limited task queue."""
        return [self.evaluate, self.resolve_version, self.save_request]
