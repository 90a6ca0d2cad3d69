"""How `submit` and `batch` end: the exit code of a request no worker has evaluated yet."""

from __future__ import annotations

from typing import Any

import typer

from mutator.cli import output
from mutator.cli.common import exit_for
from mutator.cli.connection import Connection
from mutator.decisions import EvaluationOutcome
from mutator.errors import MutatorInputError
from mutator.models import MutationRequest, PendingReason

# Submitted, and a worker polls the task queue, but none answered within the admission
# timeout (busy or restarting): the request will run. Distinct from 0 (answered), 1 (refused)
# and 2 (bad input, or no worker at all) so scripts can tell "try `mutator wait`" apart.
NOT_YET_EVALUATED = 3


def exit_for_submission(req: MutationRequest, as_json: bool) -> None:
    """End `submit` or `batch` with the exit code the request calls for.

    3 when no worker has evaluated it yet (with a note on stderr), 1 when it ended without
    being applied, else 0 (by returning).
    """
    if req.pending_reason == PendingReason.EVALUATION:
        if not as_json and req.error:
            output.err_console.print(f"note: {req.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(NOT_YET_EVALUATED)
    exit_for(req)


def dry_run(
    conn: Connection,
    state_id: str,
    mutation: str,
    payload: dict[str, Any],
    *,
    actor: str,
    reason: str,
    refused_with: list[str],
) -> None:
    """``submit --dry-run``: print what submitting would do; exit 1 when it would be refused.

    ``refused_with``: the options given that a dry-run cannot take (exit 2).
    """
    if refused_with:
        raise conn.fail(
            MutatorInputError(
                f"--dry-run: cannot be combined with {', '.join(refused_with)} "
                "(a dry-run submits nothing)"
            )
        )
    result = conn.client(
        lambda c: c.simulate(state_id, mutation, payload, actor=actor, reason=reason)
    )
    if conn.as_json:
        output.print_json(result)
    else:
        output.show_simulation(result, state_id, mutation)
    if result.outcome in (EvaluationOutcome.DENY, EvaluationOutcome.INVALID):
        raise typer.Exit(1)
