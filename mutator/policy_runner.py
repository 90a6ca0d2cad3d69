"""Running an app's registered policies on one request: priority, async, timeouts, failures.

Runs on the worker, in the evaluation activity's thread (never in a workflow). A policy is
a plain function or an ``async def``; an ``async`` one is awaited in an event loop of its
own, within its ``timeout`` and within what is left of ``EVALUATION_BUDGET`` for the whole
evaluation (the evaluation activity must end well inside its own 30 s limit). A policy that
raises, times out or returns something that is not a decision fails the evaluation with an
error naming it (the request ends ``failed``, as a raising policy always did), unless it was
registered with ``fail_open=True``: then it counts as an advisory ``Deny`` (a ``warned``
decision naming the policy and what went wrong) and blocks nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fnmatch
import inspect
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from mutator.policies import DECISION_TYPES, Deny, NamedDecision, PolicyContext, PolicyDecision
from mutator.policy_composition import Policy, PolicyMode, applying

# The most an async policy may wait, and the most all the async policies of one evaluation
# may wait together: the evaluation activity's limit is 30 s (60 s for a first one).
MAX_POLICY_TIMEOUT = timedelta(seconds=20)
EVALUATION_BUDGET = timedelta(seconds=25)
DEFAULT_ASYNC_TIMEOUT = timedelta(seconds=10)


class PolicyFailure(Exception):
    """A policy raised, timed out or returned something else than a decision; names it."""


@dataclass(frozen=True)
class RegisteredPolicy:
    """One ``@app.policy``: what it matches, and how it runs.

    Attributes:
        pattern: The ``fnmatch`` glob over mutation names.
        name: The policy's name (its function's), in decisions and errors.
        fn: The policy.
        priority: Higher runs first; ties run in registration order.
        timeout: ``async`` policies: how long it may take.
        fail_open: A failure allows, with a ``warned`` decision, instead of failing.
        order: Its registration order.
    """

    pattern: str
    name: str
    fn: Policy
    priority: int = 0
    timeout: timedelta | None = None
    fail_open: bool = False
    order: int = 0

    @property
    def is_async(self) -> bool:
        """Whether it is an ``async def`` (awaited within its timeout)."""
        return inspect.iscoroutinefunction(self.fn)


def registered(
    pattern: str,
    fn: Policy,
    *,
    priority: int,
    timeout: timedelta | None,
    fail_open: bool,
    order: int,
) -> RegisteredPolicy:
    """Check ``@app.policy``'s arguments and make the registration.

    Raises:
        ValueError: ``fn`` is not callable; ``priority`` is not an int; ``fail_open`` not a
            bool; ``timeout`` on a policy that is not ``async``, or not a positive timedelta
            at most ``MAX_POLICY_TIMEOUT``.
    """
    name = getattr(fn, "__name__", repr(fn))
    if not callable(fn):
        raise ValueError(f"policy {name!r}: a policy is a function of a PolicyContext")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"policy {name!r}: priority must be an integer, got {priority!r}")
    if not isinstance(fail_open, bool):
        raise ValueError(f"policy {name!r}: fail_open must be True or False, got {fail_open!r}")
    is_async = inspect.iscoroutinefunction(fn)
    if timeout is not None:
        if not is_async:
            raise ValueError(
                f"policy {name!r}: timeout= applies to async def policies only (a plain "
                "function cannot be interrupted)"
            )
        if not isinstance(timeout, timedelta) or not (timedelta(0) < timeout <= MAX_POLICY_TIMEOUT):
            raise ValueError(
                f"policy {name!r}: timeout must be a timedelta above 0 and at most "
                f"{MAX_POLICY_TIMEOUT.total_seconds():g} s, got {timeout!r}"
            )
    elif is_async:
        timeout = DEFAULT_ASYNC_TIMEOUT
    return RegisteredPolicy(pattern, name, fn, priority, timeout, fail_open, order)


def in_priority_order(policies: Sequence[RegisteredPolicy]) -> list[RegisteredPolicy]:
    """Highest ``priority`` first; ties in registration order."""
    return sorted(policies, key=lambda p: (-p.priority, p.order))


def _await(awaitable: Awaitable[PolicyDecision], seconds: float) -> PolicyDecision:
    async def bounded() -> PolicyDecision:
        return await asyncio.wait_for(awaitable, seconds)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded())
    # Called from a running loop (a caller's own code): its own loop, on another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, bounded()).result()


class PolicyRun:
    """One evaluation's policy runs, sharing ``EVALUATION_BUDGET`` between async policies."""

    def __init__(self, ctx: PolicyContext) -> None:
        """Run policies on ``ctx``; the budget starts now."""
        self.ctx = ctx
        self.ends = time.monotonic() + EVALUATION_BUDGET.total_seconds()

    def run(self, policy: RegisteredPolicy) -> NamedDecision:
        """One policy's decision, named; a fail-open failure as an advisory ``Deny``.

        Raises:
            PolicyFailure: It failed and is not ``fail_open``; the message names it.
        """
        try:
            decision = self._decide(policy)
        except PolicyFailure as exc:
            if not policy.fail_open:
                raise
            return NamedDecision(policy.name, Deny(f"{exc}; failed open", level="advisory"))
        return NamedDecision(policy.name, decision)

    def _decide(self, policy: RegisteredPolicy) -> PolicyDecision:
        try:
            result = policy.fn(self.ctx)
            if inspect.isawaitable(result):
                result = self._bounded(policy, result)
        except PolicyFailure:
            raise
        except Exception as exc:
            raise PolicyFailure(
                f"policy {policy.name!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, DECISION_TYPES):
            raise PolicyFailure(
                f"policy {policy.name!r} returned {result!r}; expected Allow(), Abstain(), "
                "Deny(reason, ...), RequireApprovals(...), RequireChecks(...) or all_of/any_of's"
            )
        return result

    def _bounded(
        self, policy: RegisteredPolicy, awaitable: Awaitable[PolicyDecision]
    ) -> PolicyDecision:
        allowed = (policy.timeout or DEFAULT_ASYNC_TIMEOUT).total_seconds()
        seconds = max(0.0, min(allowed, self.ends - time.monotonic()))
        try:
            return _await(awaitable, seconds)
        except TimeoutError as exc:
            why = (
                f"its timeout of {allowed:g} s" if seconds >= allowed else "the evaluation's budget"
            )
            raise PolicyFailure(
                f"policy {policy.name!r} timed out: no decision within {why}"
            ) from exc

    def each(self, policies: Sequence[RegisteredPolicy]) -> Iterator[NamedDecision]:
        """Run ``policies`` in priority order, lazily: one decision per step taken."""
        for policy in in_priority_order(policies):
            yield self.run(policy)


def matching(policies: Sequence[RegisteredPolicy], mutation: str) -> list[RegisteredPolicy]:
    """The policies whose glob matches ``mutation``."""
    return [p for p in policies if fnmatch.fnmatchcase(mutation, p.pattern)]


def decide(
    policies: Sequence[RegisteredPolicy], ctx: PolicyContext, mode: PolicyMode
) -> list[NamedDecision]:
    """The decisions that apply to ``ctx`` under ``mode`` (``policy_composition.applying``).

    In ``first_decisive`` mode, the policies after the decisive one do not run.

    Raises:
        PolicyFailure: A policy failed and is not ``fail_open``.
    """
    return applying(PolicyRun(ctx).each(matching(policies, ctx.mutation)), mode)
