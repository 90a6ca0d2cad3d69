"""Statically find the approver ids policies name, to refuse ones the directory lacks.

Policies are functions that build ``RequireApprovals`` (and ``RequireChecks``, whose
``reporters=`` are checked the same way) when they run, so only what their
source states can be checked before a request exists: an ``approvers=`` argument written as a
literal set, list or tuple of strings (optionally inside ``set(...)``/``frozenset(...)``), or
a module-level or closure name bound to such a collection. Approvers computed at run time are
not seen; an unknown one among them is simply never eligible.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mutator.policy_runner import RegisteredPolicy


@dataclass(frozen=True)
class NamedApprover:
    """An approver id a policy's source names.

    Attributes:
        policy: The policy's name.
        user: The approver id.
        where: ``file:line`` of the ``RequireApprovals`` call.
        role: ``approver``, or ``reporter`` for ``RequireChecks(reporters=...)``.
    """

    policy: str
    user: str
    where: str
    role: str = "approver"


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, set | frozenset | list | tuple) and all(isinstance(v, str) for v in value):
        return sorted(value)
    return None


def _literal(node: ast.expr, names: dict[str, Any]) -> list[str] | None:
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        return _strings(values) if len(values) == len(node.elts) else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("set", "frozenset")
        and len(node.args) == 1
    ):
        return _literal(node.args[0], names)
    if isinstance(node, ast.Name) and node.id in names:
        return _strings(names[node.id])
    return None


def _called(func: ast.expr) -> str | None:
    """``RequireApprovals`` or ``RequireChecks`` when ``func`` names one, else None."""
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name if name in ("RequireApprovals", "RequireChecks") else None


def _named_users(node: ast.Call) -> tuple[str, list[ast.expr]]:
    """Who a call names: its approvers (keyword or second argument) or its reporters."""
    if _called(node.func) == "RequireChecks":
        return "reporter", [k.value for k in node.keywords if k.arg == "reporters"]
    return "approver", [k.value for k in node.keywords if k.arg == "approvers"] + node.args[1:2]


def _visible_names(fn: Callable[..., Any]) -> dict[str, Any]:
    names = dict(getattr(fn, "__globals__", {}))
    with contextlib.suppress(TypeError, ValueError):
        names.update(inspect.getclosurevars(fn).nonlocals)
    return names


def policy_approvers(name: str, fn: Callable[..., Any]) -> list[NamedApprover]:
    """The ids ``fn``'s source names as approvers, or as a ``RequireChecks``'s reporters.

    ``RequireApprovals(approvers=...)`` (or its second argument) and
    ``RequireChecks(reporters=...)``. A policy whose source is unavailable (built-in,
    generated, a lambda in a REPL) names none.
    """
    try:
        lines, first = inspect.getsourcelines(fn)
        path = inspect.getsourcefile(fn) or "<unknown>"
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return []
    names = _visible_names(fn)
    found: list[NamedApprover] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _called(node.func)):
            continue
        role, values = _named_users(node)
        where = f"{path}:{first + node.lineno - 1}"
        for value in values:
            found.extend(
                NamedApprover(name, user, where, role) for user in _literal(value, names) or []
            )
    return found


def unknown_approvers(policies: Sequence[RegisteredPolicy], users: Iterable[str]) -> list[str]:
    """A message per approver id a policy names that is not a user of the directory.

    Args:
        policies: ``MutationApp.policies``.
        users: The directory's user ids.
    """
    known = set(users)
    problems = []
    for policy in policies:
        for named in policy_approvers(policy.name, policy.fn):
            if named.user not in known:
                problems.append(
                    f"policy {named.policy!r} ({named.where}) names {named.role} {named.user!r}, "
                    "who is not in the directory"
                )
    return problems
