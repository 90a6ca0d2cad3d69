"""What every benchmark shares: which code it measured, where the output of the servers it
starts goes, the dev server it runs against, the Mutator workers it measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from mutator.temporal import SEARCH_ATTRIBUTES


def code_version(root: Path, sources: Sequence[str]) -> str:
    """The commit of the code under ``root``, ``+dirty`` when ``sources`` have local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", *sources],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "", ""
    version = (head + ("+dirty" if dirty else "")) if head else "not a git checkout"
    return f"{version} ({root})"


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Child processes started inside inherit stderr as their stdout (the server banner)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def print_result(result: dict[str, Any], json_out: Path | None) -> None:
    """Print the benchmark's JSON on stdout, and also write it to ``json_out`` if given."""
    text = json.dumps(result, indent=2)
    print(text)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")


def worker_wiring() -> ModuleType:
    """The module that builds Mutator's workers, in the code under test, old or new."""
    try:
        import mutator.workers as wiring
    except ImportError:  # code before mutator.workers existed (wiring in mutator.temporal)
        import mutator.temporal as wiring  # type: ignore[no-redef]
    return wiring


def tested_code_version(wiring: ModuleType) -> str:
    """``code_version`` of the checkout that ``wiring`` (see ``worker_wiring``) comes from."""
    if wiring.__file__ is None:
        return "unknown (no file)"
    root = Path(wiring.__file__).resolve().parent.parent
    return code_version(root, ("mutator", "workflows", "activities"))


async def start_dev_server(temporal_bin: str) -> WorkflowEnvironment:
    """A Temporal dev server from ``temporal_bin`` with Mutator's search attributes; its
    banner goes to stderr."""
    with stdout_to_stderr():
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_bin,
            data_converter=pydantic_data_converter,
            search_attributes=[SearchAttributeKey.for_keyword(name) for name in SEARCH_ATTRIBUTES],
            dev_server_log_level="error",
        )


def build_mutator_workers(
    wiring: ModuleType, client: Client, **settings: Any
) -> AbstractAsyncContextManager[Any]:
    """The worker(s) ``mutator worker`` runs, in the code under test: ``build_workers`` now,
    ``build_worker`` in code before it. ``settings``: app, store, task_queue."""
    build: Callable[..., AbstractAsyncContextManager[Any]] | None = getattr(
        wiring, "build_workers", None
    ) or getattr(wiring, "build_worker", None)
    if build is None:
        raise RuntimeError(f"{wiring.__name__} has neither build_workers nor build_worker")
    return build(client, **settings)
