"""Dependencies flow one way: domain <- store <- engine <- client <- CLI, with no cycle.

Every ``import`` of a ``mutator`` module counts, wherever it is written (module level,
inside a function, under ``TYPE_CHECKING``): a deferred import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import mutator

PACKAGE_ROOT = Path(mutator.__file__).parent

# Lower layers never import higher ones. The first matching prefix wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "domain",
        (
            "mutator.errors",
            "mutator.ids",
            "mutator.settings",
            "mutator.temporal_tls",
            "mutator.models",
            "mutator.mutations",
            "mutator.statuses",
            "mutator.views",
            "mutator.gates",
            "mutator.policies",
            "mutator.policy_composition",
            "mutator.policy_runner",
            "mutator.external_checks",
            "mutator.overrides",
            "mutator.decisions",
            "mutator.approvals",
            "mutator.lifecycle",
            "mutator.limits",
            "mutator.listing",
            "mutator.record",
            "mutator.lane_contracts",
            "mutator.contracts",
            "mutator.supersede_contracts",
            "mutator.simulate_contracts",
            "mutator.compensation_contracts",
            "mutator.diffs",
            "mutator.identity",
            "mutator.schedule",
            "mutator.quotas",
            "mutator.break_glass",
            "mutator.app",
            "mutator.evaluation",
            "mutator.loader",
            "mutator.admission",
            "mutator.notifications",
            "mutator.effects",
        ),
    ),
    ("store", ("mutator.store",)),
    (
        "engine",
        (
            "mutator.sdk_logging",
            "mutator.metrics",
            "mutator.message_payloads",
            "mutator.execution_timeouts",
            "mutator.temporal",
            "mutator.workers",
            "mutator.workflows",
            "mutator.activities",
        ),
    ),
    (
        "client",
        (
            "mutator.client",
            "mutator.client_submission",
            "mutator.client_messages",
            "mutator.client_locks",
            "mutator.client_signing",
            "mutator.client_votes",
            "mutator.client_checks",
            "mutator.client_overrides",
            "mutator.client_schedule",
            "mutator.client_simulate",
            "mutator.client_compensate",
            "mutator.reader",
            "mutator.client_watch",
        ),
    ),
    # The package's own namespace re-exports the client; the example app imports from it.
    ("cli", ("mutator.cli", "mutator.example_app", "mutator")),
)
LAYER_NAMES = [name for name, _ in LAYERS]


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def package_modules() -> dict[str, Path]:
    """Every module of the installed package, the symlinked workflows/ and activities/ too."""
    found = {}
    for folder, _, files in os.walk(PACKAGE_ROOT, followlinks=True):
        for file in files:
            if not file.endswith(".py"):
                continue
            parts = list(Path(folder, file).relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = Path(folder, file)
    return found


def absolute_imports(path: Path) -> list[tuple[str, list[str]]]:
    """Each absolute import in ``path``: (module, names) for ``from module import names``,
    (module, []) for ``import module``."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``path`` imports (``from pkg import submodule`` names the submodule)."""
    out: set[str] = set()
    for module, names in absolute_imports(path):
        submodules = [f"{module}.{name}" for name in names]
        out.update(sub if sub in modules else module for sub in submodules or [module])
    return {name for name in out if name in modules}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_the_package_holds_the_workflows_and_activities() -> None:
    modules = package_modules()
    assert "mutator.workflows.mutation_request" in modules
    assert "mutator.activities.request_activities" in modules
    assert "mutator.workers" in modules


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if LAYER_NAMES.index(layer_of(target)) > LAYER_NAMES.index(layer_of(module))
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    assert "mutator.workers" in order


def test_nothing_imports_top_level_workflows_or_activities() -> None:
    """They are ``mutator.workflows`` and ``mutator.activities`` now; a top-level import
    would load a second copy of a module, or a user's package of the same name."""
    repo = PACKAGE_ROOT.parent
    offenders = []
    for path in [*package_modules().values(), *repo.glob("tests/**/*.py")]:
        offenders += [
            f"{path}: {module}"
            for module, _ in absolute_imports(path)
            if module.split(".")[0] in ("workflows", "activities", "worker")
        ]
    assert offenders == []
