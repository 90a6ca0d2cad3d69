"""The app the fault-injection tests run in a `mutator worker` subprocess.

``fault.add`` appends its marker to the state. Each run of its handler first leaves a file
``<marker>.<run>`` in ``MUTATOR_FAULT_DIR`` (so the test sees it is mid-handler) and, for
its first ``payload["holds"]`` runs, then blocks for ``payload["hold"]`` seconds: long
enough to be killed there. Later runs (retries after a kill) return at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from mutator import Allow, MutationApp, PolicyContext, PolicyDecision

app = MutationApp(directory={"alice": ["sre"], "bob": ["sre"]})


def runs_of(directory: Path, marker: str) -> int:
    return len(list(directory.glob(f"{marker}.*")))


@app.mutation("fault.add")
def fault_add(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    directory = Path(os.environ["MUTATOR_FAULT_DIR"])
    marker = payload["marker"]
    run = runs_of(directory, marker)
    (directory / f"{marker}.{run}").touch()
    if run < payload.get("holds", 1):
        threading.Event().wait(payload.get("hold", 30))
    return {**state, "applied": [*state.get("applied", []), marker]}


@app.policy("fault.*")
def allow(ctx: PolicyContext) -> PolicyDecision:
    return Allow()
