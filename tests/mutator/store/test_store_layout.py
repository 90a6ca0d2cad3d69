"""The store's modules keep to their own concern: none reaches into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mutator.store

STORE_DIR = Path(mutator.store.__file__).parent
MODULES = sorted(STORE_DIR.glob("*.py"))
# SQLAlchemy's public row API is spelled with an underscore (it keeps column names free).
PUBLIC_UNDERSCORED = {"_mapping"}


def private_reaches(source: str) -> list[str]:
    """``x._name`` with ``x`` not ``self``, and ``from ... import _name``, in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            on_self = isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            if private and not on_self and node.attr not in PUBLIC_UNDERSCORED:
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_module_reaches_into_private_names(module: Path) -> None:
    assert private_reaches(module.read_text()) == []


def test_the_check_sees_a_reach_into_a_private_name() -> None:
    assert private_reaches("store._save_request(conn, request)") == ["line 1: ._save_request"]
    assert private_reaches("from mutator.store.store import _now") == ["line 1: import _now"]
    assert private_reaches("self._db.write('x')\nrow._mapping") == []


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_modules_stay_small(module: Path) -> None:
    assert len(module.read_text().splitlines()) <= 400
