"""What every benchmark records about its run: which code it measured, and where the output
of the servers it starts goes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


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
