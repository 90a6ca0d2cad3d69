"""The docs site, with its API reference generated from the docstrings, builds strictly.

A broken link between pages, a ``:::`` reference to a name that does not exist, or a
docstring that documents a parameter the function does not have fails the build.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import mutator

ROOT = Path(__file__).resolve().parents[2]
API_PAGE = ROOT / "docs" / "api.md"
DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)$", re.MULTILINE)


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()


def test_the_api_page_documents_every_public_name() -> None:
    documented = {}
    for match in DIRECTIVE.finditer(API_PAGE.read_text()):
        module, _, name = match["path"].rpartition(".")
        documented[name] = getattr(importlib.import_module(module), name)
    missing = [name for name in mutator.__all__ if name not in documented]
    assert not missing, f"add a ::: directive to docs/api.md for {missing}"
    for name in mutator.__all__:
        assert documented[name] is getattr(mutator, name), f"{name}: documented from elsewhere"
