"""Temporal workflow ids of Mutator's workflows.

For code that must not import the contracts (their pydantic models) or the Temporal SDK,
such as the link `mutator show` prints.
"""

from __future__ import annotations

REQUEST_WORKFLOW_PREFIX = "mutation-request:"


def request_workflow_id(request_id: str) -> str:
    """The workflow id of the request ``request_id``."""
    return f"{REQUEST_WORKFLOW_PREFIX}{request_id}"
