"""``MutatorClient.simulate``: a dry-run on a worker, which stores nothing.

The input is checked as ``submit`` checks it (same errors), then a ``MutatorSimulate``
workflow (id ``simulate:<uuid>``) runs one ``mutator.simulate`` activity on a worker and
returns its result (``mutator.simulate_contracts``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from mutator.admission import worker_last_seen
from mutator.client_submission import check_known_mutations, single_submission
from mutator.contracts import ERR_UNKNOWN_MUTATION
from mutator.errors import MutatorInputError, MutatorRefused, MutatorUnavailable
from mutator.limits import PayloadLimits
from mutator.models import SubmitRequestInput
from mutator.reader import StoreReader
from mutator.simulate_contracts import (
    SIMULATE_ID_PREFIX,
    SIMULATE_WORKFLOW,
    SimulateInput,
    SimulateResult,
)


class SimulateCommands(StoreReader):
    """Dry-runs, and the check of mutation names submit shares: a part of ``MutatorClient``."""

    temporal: Client
    task_queue: str
    limits: PayloadLimits
    admission_timeout: float
    _known_mutations: set[str]

    async def check_known(self, submitted: SubmitRequestInput) -> None:
        """Refuse a mutation no worker registered (the catalog is read again when unknown).

        Raises:
            MutatorInputError: A mutation of the request is not registered.
        """
        names = [i.mutation for i in submitted.items] if submitted.items else [submitted.mutation]
        if not self._known_mutations.issuperset(names):
            self._known_mutations = set(await asyncio.to_thread(self.store.registered_mutations))
        check_known_mutations(submitted, sorted(self._known_mutations))

    async def simulate(
        self,
        state_id: str,
        mutation: str,
        payload: dict[str, Any],
        *,
        actor: str,
        reason: str = "",
    ) -> SimulateResult:
        """What submitting the mutation now would do, without doing it (a dry-run).

        Validators, policies and the handler run on a worker on the state as it is now.
        Nothing is stored in the Mutator store and no state changes; Temporal keeps one
        short workflow, ``simulate:<uuid>`` (docs/changes.md).

        Args:
            state_id: The state.
            mutation: A mutation the workers registered.
            payload: The mutation's arguments.
            actor: Who would submit it (policies see it).
            reason: Why, as the requester would say.

        Returns:
            The outcome (``allow``, ``deny`` or ``invalid`` with the reason, or
            ``require_approvals`` with the requirements and eligible approvers), the state's
            data after the change, and the change as an RFC 6902 diff.

        Raises:
            MutatorInputError: As ``submit``: a field is malformed or over its limit, or the
                mutation is not registered.
            MutatorRefused: A policy raised.
            MutatorUnavailable: Temporal refused it, or no worker answered in time.
        """
        submitted = single_submission(
            state_id,
            mutation,
            payload,
            actor=actor,
            reason=reason,
            request_id=None,
            expected_version=None,
            limits=self.limits,
        )
        await self.check_known(submitted)
        result = await self._run(
            SimulateInput(
                state_id=state_id,
                mutation=mutation,
                payload=payload,
                requester=actor,
                reason=reason,
            )
        )
        if result.error_type == ERR_UNKNOWN_MUTATION:
            raise MutatorInputError(f"mutation: {result.error}")
        if result.error_type or result.error:
            raise MutatorRefused(f"the dry-run failed: {result.error}")
        return result

    async def _run(self, input: SimulateInput) -> SimulateResult:
        if await worker_last_seen(self.temporal, self.task_queue) is None:
            raise MutatorUnavailable(
                f"no worker polls task queue {self.task_queue!r}: a dry-run runs on a worker "
                "(it has the app's code); start `mutator worker` (or `mutator dev`)"
            )
        try:
            result: SimulateResult = await self.temporal.execute_workflow(
                SIMULATE_WORKFLOW,
                input,
                id=f"{SIMULATE_ID_PREFIX}{uuid.uuid4()}",
                task_queue=self.task_queue,
                result_type=SimulateResult,
                # Bounded like submit's wait for an evaluation; the server ends it then.
                execution_timeout=timedelta(seconds=self.admission_timeout),
            )
        except WorkflowFailureError as exc:
            raise MutatorUnavailable(
                f"no worker answered the dry-run within {self.admission_timeout:g}s: {exc.cause}"
            ) from exc
        except RPCError as exc:
            raise MutatorUnavailable(f"Temporal refused the dry-run: {exc}") from exc
        return result
