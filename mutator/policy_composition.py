"""How several policies make one outcome: the app's mode, and the combinators.

``MutationApp(policy_mode=...)`` runs the policies matching a request in priority order
(highest ``priority`` first, ties in registration order):

- ``all_must_pass`` (the default, and the behaviour before modes existed): every matching
  policy runs; any hard ``Deny`` rejects; every requirement (approvals, checks, overrides)
  applies at once; every advisory ``Deny`` is a warning.
- ``first_decisive``: policies run until the first *decisive* decision, and the later ones
  do not run at all. Decisive: every decision except ``Abstain()`` and an advisory ``Deny``
  (both let the next policy decide; the warning is still recorded). That decision alone
  applies: ``Allow()`` admits, a hard ``Deny`` rejects, a soft ``Deny`` waits for an
  override, ``RequireApprovals``/``RequireChecks`` wait for their gate, an ``AllOf`` applies
  every member. No decisive decision: allowed.

``all_of(p1, p2, ...)`` and ``any_of(p1, p2, ...)`` build one policy from several; pure.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from mutator.policies import (
    Abstain,
    AllOf,
    Deny,
    NamedDecision,
    PolicyContext,
    PolicyDecision,
    RequireApprovals,
    RequireChecks,
)

PolicyMode = Literal["all_must_pass", "first_decisive"]
POLICY_MODES: tuple[PolicyMode, ...] = ("all_must_pass", "first_decisive")

Policy = Callable[[PolicyContext], PolicyDecision | Awaitable[PolicyDecision]]


def is_decisive(decision: PolicyDecision) -> bool:
    """Whether ``decision`` ends a ``first_decisive`` evaluation (see the module's docs)."""
    if isinstance(decision, Abstain):
        return False
    if isinstance(decision, Deny):
        return decision.level != "advisory"
    if isinstance(decision, AllOf):
        return any(is_decisive(d) for d in decision.decisions)
    return True


def applying(decisions: Iterable[NamedDecision], mode: PolicyMode) -> list[NamedDecision]:
    """The decisions that apply, taken one by one from ``decisions`` (in priority order).

    ``all_must_pass``: all of them. ``first_decisive``: those up to and including the
    first decisive one; nothing further is taken from ``decisions``, so a lazy iterable
    never runs the policies after it.
    """
    taken: list[NamedDecision] = []
    for named in decisions:
        taken.append(named)
        if mode == "first_decisive" and is_decisive(named.decision):
            break
    return taken


def strictness(decision: PolicyDecision) -> int:
    """How much a decision holds a request back, for ``any_of``: the lowest wins.

    0 ``Allow``; 1 an advisory ``Deny``; 2 ``RequireChecks``/``RequireApprovals``; 3 a soft
    ``Deny``; 4 a hard ``Deny``; an ``AllOf`` is as strict as its strictest member.
    """
    if isinstance(decision, Deny):
        return {"advisory": 1, "soft": 3, "hard": 4}[decision.level]
    if isinstance(decision, RequireApprovals | RequireChecks):
        return 2
    if isinstance(decision, AllOf):
        return max((strictness(d) for d in decision.decisions), default=0)
    return 0


def every(decisions: list[PolicyDecision]) -> PolicyDecision:
    """``all_of``'s decision: every member's (``AllOf``), abstentions left out."""
    kept = tuple(d for d in decisions if not isinstance(d, Abstain))
    if not kept:
        return Abstain()
    return kept[0] if len(kept) == 1 else AllOf(kept)


def most_lenient(decisions: list[PolicyDecision]) -> PolicyDecision:
    """``any_of``'s decision: the member decision that holds the request back least.

    Abstentions are left out (all abstain: ``Abstain()``); ties go to the first. When every
    member denies, the most lenient denial applies, with every member's reason joined.
    """
    kept = [d for d in decisions if not isinstance(d, Abstain)]
    if not kept:
        return Abstain()
    chosen = min(kept, key=strictness)  # min keeps the first of equals
    if isinstance(chosen, Deny) and all(isinstance(d, Deny) for d in kept):
        reason = "; ".join(d.reason for d in kept if isinstance(d, Deny))
        return Deny(reason, chosen.level, chosen.override_roles, chosen.timeout)
    return chosen


def _named(kind: str, policies: tuple[Policy, ...]) -> str:
    return f"{kind}(" + ", ".join(getattr(p, "__name__", repr(p)) for p in policies) + ")"


def _combined(
    kind: str, policies: tuple[Policy, ...], merge: Callable[[list[PolicyDecision]], PolicyDecision]
) -> Policy:
    if not policies or not all(callable(p) for p in policies):
        raise ValueError(f"{kind}: give one or more policies (functions of a PolicyContext)")
    if not any(inspect.iscoroutinefunction(p) for p in policies):

        def combined(ctx: PolicyContext) -> PolicyDecision:
            return merge([_sync_result(p, p(ctx)) for p in policies])

        combined.__name__ = _named(kind, policies)
        return combined

    async def combined_async(ctx: PolicyContext) -> PolicyDecision:
        results = []
        for policy in policies:
            result = policy(ctx)
            results.append(await result if inspect.isawaitable(result) else result)
        return merge(results)

    combined_async.__name__ = _named(kind, policies)
    return combined_async


def _sync_result(
    policy: Policy, result: PolicyDecision | Awaitable[PolicyDecision]
) -> PolicyDecision:
    if inspect.isawaitable(result):
        # Not a coroutine function, yet it returned an awaitable: never awaited here.
        if inspect.iscoroutine(result):
            result.close()
        name = getattr(policy, "__name__", repr(policy))
        raise TypeError(f"policy {name!r} returned an awaitable: declare it with async def")
    return result


def all_of(*policies: Policy) -> Policy:
    """One policy from several that must all pass: every member's decision applies.

    Any hard deny rejects, every requirement applies; ``async`` when any member is.

    Raises:
        ValueError: No policies, or something that is not callable.
    """
    return _combined("all_of", policies, every)


def any_of(*policies: Policy) -> Policy:
    """One policy from several of which one passing is enough: the most lenient applies.

    E.g. ``any_of(owner_allows, two_sres)`` allows when the owner policy allows, else asks
    for two SREs; when every member denies, the most lenient denial applies with every
    reason. ``async`` when any member is.

    Raises:
        ValueError: No policies, or something that is not callable.
    """
    return _combined("any_of", policies, most_lenient)
