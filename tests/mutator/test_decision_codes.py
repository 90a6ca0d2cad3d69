"""docs/lifecycle.md's tables and the enums the code writes records with stay equal."""

from __future__ import annotations

import re
from pathlib import Path

from mutator.decisions import DecisionCode, SystemActor, rejected_code
from mutator.models import DecisionCategory, RejectionCode

LIFECYCLE_DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def _table_rows(heading: str) -> list[list[str]]:
    """The cells of the table after ``heading``, backticks kept, header and rule dropped."""
    text = LIFECYCLE_DOC.read_text()
    after = text[text.index(heading) :]
    rows: list[list[str]] = []
    for line in after.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[2:]


def _code(cell: str) -> str:
    found = re.search(r"`([^`]+)`", cell)
    assert found, cell
    return found.group(1)


def test_decision_codes_are_the_documented_ones() -> None:
    rows = _table_rows("## Decision records")
    documented = {(_code(category), _code(code)) for category, code, *_ in rows}
    categories = {category for category, _ in documented}
    codes = {code for _, code in documented if not code.startswith("rejected:")}
    assert categories == {c.value for c in DecisionCategory}
    assert codes == {c.value for c in DecisionCode}
    assert (DecisionCategory.LIFECYCLE.value, "rejected:<rejection code>") in documented


def test_system_actors_are_the_documented_ones() -> None:
    rows = _table_rows("## Decision records")
    actors = {actor for *_, cell, _ in rows for actor in re.findall(r"`([^`]+)`", cell)}
    assert actors == {a.value for a in SystemActor}


def test_rejection_codes_are_the_documented_ones() -> None:
    rows = _table_rows("**Rejection codes:**")
    assert {_code(code) for code, *_ in rows} == {c.value for c in RejectionCode}
    assert rejected_code(RejectionCode.POLICY_DENIED) == "rejected:policy_denied"
