"""A user's own top-level packages named ``workflows`` and ``activities`` run under Mutator.

Mutator installs one top-level package, ``mutator``: its workflow and activity code lives in
``mutator.workflows`` and ``mutator.activities``, so it cannot shadow a user's packages of the
same names (before, ``pip install mutator`` put ``workflows`` and ``activities`` at the top
level, and ``--app workflows.app:app`` failed to import).
"""

from __future__ import annotations

import signal
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli_stack import CliResult, CliStack, mutator_command, poll
from tests.helpers.cli_world import ok, uid

pytestmark = pytest.mark.slow

USER_ACTIVITIES = '''
"""The user's own activities package: Mutator must not shadow it."""

def doubled(price: int) -> int:
    return price * 2
'''

USER_APP = '''
"""The user's app, in their own package named `workflows`."""

from typing import Any

import workflows
from activities.pricing import doubled
from mutator import Allow, MutationApp, PolicyContext, PolicyDecision

assert workflows.OWNER == "user", "imported Mutator's workflows instead of the user's"

app = MutationApp()


@app.mutation("price.double")
def double(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**state, "price": doubled(payload["price"])}


@app.policy("price.*")
def allow(ctx: PolicyContext) -> PolicyDecision:
    return Allow()
'''


def user_project(root: Path) -> Path:
    (root / "workflows").mkdir(parents=True)
    (root / "workflows" / "__init__.py").write_text('OWNER = "user"\n')
    (root / "workflows" / "app.py").write_text(USER_APP)
    (root / "activities").mkdir()
    (root / "activities" / "__init__.py").write_text("")
    (root / "activities" / "pricing.py").write_text(USER_ACTIVITIES)
    return root


def double_price(stack: CliStack, *task_queue: str) -> Any:
    state_id = uid("price")
    done = ok(
        stack.run(
            "submit",
            state_id,
            "price.double",
            "--payload",
            '{"price": 21}',
            "--actor",
            "alice",
            *task_queue,
            "--json",
        )
    )
    assert done["status"] == "executed", done
    return ok(stack.run("state", state_id, "--json"))["data"]


def test_only_mutator_is_installed_at_the_top_level() -> None:
    top_level = metadata.distribution("mutator").read_text("top_level.txt")
    assert top_level is not None
    assert top_level.split() == ["mutator"]


def test_user_packages_named_workflows_and_activities(tmp_path: Path) -> None:
    stack = CliStack(user_project(tmp_path / "project"), app="workflows.app:app")
    stack.start()
    try:
        assert double_price(stack) == {"price": 42}
        worker_queue = uid("user-queue")
        log = tmp_path / "worker.out"
        with log.open("wb") as sink:
            worker = subprocess.Popen(
                [*mutator_command(), "worker", "--app", "workflows.app:app", "--json"],
                cwd=stack.workdir,
                env={**stack.env, "MUTATOR_TASK_QUEUE": worker_queue},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:

            def running() -> bool | None:
                assert worker.poll() is None, log.read_text()
                return True if '"running"' in log.read_text() else None

            poll(running, timeout=30, what="`mutator worker --app workflows.app:app`")
            assert double_price(stack, "--task-queue", worker_queue) == {"price": 42}
            worker.send_signal(signal.SIGINT)
            assert worker.wait(timeout=30) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    finally:
        if stack.proc is not None:
            assert stack.stop() == 0, stack.logs()


def test_a_broken_user_app_is_named(tmp_path: Path) -> None:
    project = user_project(tmp_path / "project")
    (project / "activities" / "pricing.py").write_text("raise RuntimeError('broken on purpose')\n")
    result: CliResult = CliStack(project).run(
        "worker", "--app", "workflows.app:app", "--json", timeout=60
    )
    assert result.code == 2, result
    assert "workflows.app" in result.error
    assert "broken on purpose" in result.error
