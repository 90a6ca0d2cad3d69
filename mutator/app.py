"""``MutationApp``: the registry of mutations, validators and policies a user writes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta

from mutator.break_glass import BreakGlass
from mutator.decisions import EvaluationOutcome
from mutator.effects import EffectHandler, EffectHandlers
from mutator.errors import MutatorInputError
from mutator.evaluation import Evaluation, evaluate_batch
from mutator.identity.approvers import unknown_approvers
from mutator.identity.directory import Directory, DirectoryEntry, parse_directory
from mutator.identity.verify import DEFAULT_TOLERANCE
from mutator.limits import PayloadLimits
from mutator.models import (
    IDENTITY_MODES,
    ON_STALE_CHOICES,
    ApprovalRequirement,
    IdentityMode,
    OnStale,
)
from mutator.mutations import (
    Handler,
    Mutation,
    UnknownMutationError,
    ValidationRefused,
    Validator,
)
from mutator.policies import (
    NamedDecision,
    PolicyContext,
    RequireApprovals,
    combine,
)
from mutator.policy_composition import POLICY_MODES, Policy, PolicyMode
from mutator.policy_runner import RegisteredPolicy, decide, matching, registered
from mutator.quotas import Quota
from mutator.schedule.windows import Window


class MutationApp:
    """Holds the mutations and policies a worker runs.

    Write one in a module of your own, decorate handlers with ``@app.mutation(...)`` and
    policies with ``@app.policy(...)``, and run it with ``mutator worker --app module:app``.

    Example:
        ```python
        app = MutationApp(directory={"alice": ["sre"], "bob": ["sre"]})

        @app.mutation("counter.add", on_stale="reject")
        def add(state, payload):
            return {**state, "value": state.get("value", 0) + payload["amount"]}

        @app.policy("counter.*")
        def two_sres(ctx: PolicyContext) -> PolicyDecision:
            return RequireApprovals(2, roles={"sre"})
        ```
    """

    def __init__(
        self,
        directory: Mapping[str, DirectoryEntry] | Directory | None = None,
        *,
        limits: PayloadLimits | None = None,
        identity: IdentityMode = "claimed",
        signature_tolerance: timedelta = DEFAULT_TOLERANCE,
        policy_mode: PolicyMode = "all_must_pass",
    ) -> None:
        """Create an empty app.

        Args:
            directory: Maps user ids to their roles (``{"bob": ["sre"]}``) or to their roles
                and OpenSSH public keys (``{"alice": {"roles": ["sre"], "keys": [...]}}``);
                it is the only source of roles. ``mutator worker --directory FILE`` replaces
                it.
            limits: Bounds the payloads its workers accept (default:
                ``PayloadLimits.from_env()``); a request over them is refused as
                ``validation_failed`` even when its caller bypassed the client.
            identity: ``signed``: every submit, approve, reject and cancel must carry the
                actor's signature, checked against the directory's keys; ``claimed``: the
                typed actor name counts (development only; docs/security.md says why it is
                the default and what it does not protect).
            signature_tolerance: How far a signed envelope's ``issued_at`` may be from the
                worker's clock, either way.
            policy_mode: How matching policies combine: ``all_must_pass`` (every one runs
                and applies) or ``first_decisive`` (in priority order, the first decisive
                decision alone applies); ``mutator.policy_composition``, docs/gates.md.

        Raises:
            DirectoryError: A directory entry is malformed, or a key is bad or duplicated.
            ValueError: ``identity`` or ``policy_mode`` is not a mode, or the tolerance is not
                positive.
        """
        if policy_mode not in POLICY_MODES:
            raise ValueError(
                f"policy_mode: must be one of {', '.join(POLICY_MODES)}, got {policy_mode!r}"
            )
        self.policy_mode: PolicyMode = policy_mode
        if identity not in IDENTITY_MODES:
            raise ValueError(
                f"identity: must be one of {', '.join(IDENTITY_MODES)}, got {identity!r}"
            )
        if signature_tolerance <= timedelta(0):
            raise ValueError(f"signature_tolerance: must be positive, got {signature_tolerance}")
        self.identity: IdentityMode = identity
        self.signature_tolerance = signature_tolerance
        self.limits = limits if limits is not None else PayloadLimits.from_env()
        self.directory: dict[str, frozenset[str]] = {}
        self.identities = Directory({})
        self.use_directory(
            directory
            if isinstance(directory, Directory)
            else parse_directory(directory, source="MutationApp(directory=...)")
        )
        self.mutations: dict[str, Mutation] = {}
        self.policies: list[RegisteredPolicy] = []
        self.windows: dict[str, Window] = {}
        self.break_glass_rule: BreakGlass | None = None
        self.effect_handlers = EffectHandlers()

    def use_directory(self, directory: Directory) -> None:
        """Replace the directory: every user's roles (``self.directory``) and keys.

        Args:
            directory: The new directory, e.g. from ``load_directory_file``.
        """
        self.identities = directory
        self.directory = directory.roles()

    def unknown_approvers(self) -> list[str]:
        """A message per approver id a policy's source names that the directory lacks.

        Only literal ``approvers=`` (or names bound to literal collections) can be checked
        before a request exists; see ``mutator.identity.approvers``.
        """
        return unknown_approvers(self.policies, self.directory)

    def window(self, name: str, *, rrule: str, duration: timedelta, tz: str) -> Window:
        """Declare the change window ``name``: when its mutations may execute.

        Each occurrence of the RFC 5545 recurrence rule, on the wall clock of ``tz``, opens
        the window for ``duration``. A mutation joins it with
        ``@app.mutation(..., window=name)``; docs/gates.md has examples.

        Args:
            name: How mutations name it.
            rrule: The rule, e.g. ``FREQ=WEEKLY;BYDAY=MO,TU,WE,TH;BYHOUR=9;BYMINUTE=0``; a
                ``DTSTART:20260105T090000`` line may precede it (default 2000-01-03 00:00).
            duration: How long each occurrence stays open.
            tz: An IANA time zone such as ``Europe/Paris``.

        Returns:
            The window.

        Raises:
            MutatorInputError: The rule does not parse, the zone is unknown, the duration is
                not positive, or ``name`` is declared already.
        """
        if name in self.windows:
            raise MutatorInputError(f"window {name!r} is declared twice")
        declared = Window(name=name, rrule=rrule, duration=duration, tz=tz)
        self.windows[name] = declared
        return declared

    def break_glass(self, *, roles: Collection[str], approvals: int) -> BreakGlass:
        """Declare break-glass: who may submit an emergency, and its quorum.

        A holder of one of ``roles`` (in the directory) may ``submit --break-glass --reason``:
        approvals, windows, freezes and quotas are bypassed, and ``approvals`` holders of
        those roles, not the requester, must approve instead (0: none). docs/gates.md.

        Raises:
            ValueError: ``roles`` is empty or not role names, ``approvals`` is not an
                integer >= 0, or break-glass is declared twice.
        """
        if self.break_glass_rule is not None:
            raise ValueError("break_glass is declared twice")
        self.break_glass_rule = BreakGlass.declare(roles, approvals)
        return self.break_glass_rule

    def window_refusals(self) -> list[str]:
        """A message per mutation whose ``window=`` names no declared window."""
        known = ", ".join(sorted(self.windows)) or "none"
        return [
            f"mutation {m.name!r}: unknown window {m.window!r} (declared windows: {known})"
            for m in self.mutations.values()
            if m.window is not None and m.window not in self.windows
        ]

    def check_windows(self) -> None:
        """Refuse an app whose mutations name undeclared windows (a worker will not start).

        Raises:
            MutatorInputError: One names every such mutation.
        """
        problems = self.window_refusals()
        if problems:
            raise MutatorInputError("; ".join(problems))

    def windows_of(self, mutation: str) -> list[Window]:
        """The windows ``mutation`` must execute in (none: any time)."""
        name = self.get(mutation).window
        return [self.windows[name]] if name is not None and name in self.windows else []

    def mutation(
        self,
        name: str,
        *,
        on_stale: OnStale = "reject",
        window: str | None = None,
        quota: Quota | None = None,
        supersede: bool = False,
    ) -> Callable[[Handler], Mutation]:
        """Register the decorated function as the mutation ``name``.

        The function takes ``(state, payload)`` and returns the new state; it runs once per
        executed request, after the validators, and must not have side effects beyond its result.

        Args:
            name: The name requests use.
            on_stale: What a request does when the state moved past its base version:
                ``reject`` it, ``reapprove`` (clear the approvals and ask again),
                ``revalidate`` (run validators and policies again on the latest state) or
                ``reapprove_if_changed`` (revalidate, and keep the approvals only when the
                handler's change on the latest state is the approved one).
            window: The change window (``app.window``) it may only execute in; declared
                before or after, a worker refuses to start when it is not declared.
            quota: At most ``quota.limit`` executions per key within any window of
                ``quota.per``, counted when the change executes (docs/gates.md).
            supersede: A newer request for the same state and mutation, once its policies
                admit it, ends every older one that has not started to execute
                (``superseded``); docs/gates.md#supersede.

        Returns:
            A decorator that returns the registered ``Mutation``.

        Raises:
            ValueError: ``on_stale`` is not a strategy, ``quota`` is not a ``Quota``,
                ``supersede`` is not a bool, or ``name`` is registered already.
        """
        if quota is not None and not isinstance(quota, Quota):
            raise ValueError(f"quota must be a mutator.Quota, got {type(quota).__name__}")
        if not isinstance(supersede, bool):
            raise ValueError(f"supersede must be True or False, got {supersede!r}")
        if on_stale not in ON_STALE_CHOICES:
            raise ValueError(
                f"on_stale must be one of {', '.join(ON_STALE_CHOICES)}, got {on_stale!r}"
            )
        if name in self.mutations:
            raise ValueError(f"mutation {name!r} is registered twice")

        def register(fn: Handler) -> Mutation:
            registered = Mutation(
                name=name,
                handler=fn,
                on_stale=on_stale,
                window=window,
                quota=quota,
                supersede=supersede,
            )
            self.mutations[name] = registered
            return registered

        return register

    def policy(
        self,
        pattern: str,
        *,
        priority: int = 0,
        timeout: timedelta | None = None,
        fail_open: bool = False,
    ) -> Callable[[Policy], Policy]:
        """Register a policy for every mutation whose name matches the glob ``pattern``.

        A policy takes a ``PolicyContext`` and returns ``Allow()``, ``Abstain()``,
        ``Deny(reason, level=...)``, ``RequireApprovals(...)``, ``RequireChecks(...)`` (or
        what ``all_of``/``any_of`` build). It may be an ``async def`` (to call an external
        service), awaited within ``timeout``. How the matching policies combine is the app's
        ``policy_mode`` (docs/gates.md, "Policies").

        Args:
            pattern: An ``fnmatch`` glob over mutation names, such as ``"limits.*"``.
            priority: Higher runs first (ties: registration order); in ``first_decisive``
                mode the first decisive decision wins.
            timeout: ``async def`` policies only: how long it may take (default 10 s, at
                most 20 s).
            fail_open: When it raises or times out: allow, with a ``warned`` decision naming
                it, instead of failing the request (the default, fail closed).

        Returns:
            A decorator that registers the policy and returns it unchanged.

        Raises:
            ValueError: A bad ``priority``, ``timeout`` or ``fail_open``
                (``mutator.policy_runner.registered``).
        """

        def register(fn: Policy) -> Policy:
            self.policies.append(
                registered(
                    pattern,
                    fn,
                    priority=priority,
                    timeout=timeout,
                    fail_open=fail_open,
                    order=len(self.policies),
                )
            )
            return fn

        return register

    def effect(self, type: str) -> Callable[[EffectHandler], EffectHandler]:
        """Register ``fn(event: EffectEvent)`` for the side effects of ``type`` handlers emit.

        After the change that emitted an event commits, the worker runs every handler of its
        type, at least once: a handler that raises is retried with backoff (its change
        stands); deduplicate by ``event.event_id``. ``async def`` handlers are awaited.
        See docs/changes.md#side-effects.

        Raises:
            ValueError: ``type`` is empty or not a valid type (a letter, then letters,
                digits, ``.``, ``_``, ``-``, ``:``; at most 90), or the function is
                registered twice for it.
        """
        return self.effect_handlers.register(type)

    def has_async_policies(self, mutation: str) -> bool:
        """Whether an ``async`` policy matches ``mutation`` (it may wait on a service)."""
        return any(p.is_async for p in matching(self.policies, mutation))

    def get(self, name: str) -> Mutation:
        """The mutation registered as ``name``.

        Raises:
            UnknownMutationError: No mutation has that name.
        """
        try:
            return self.mutations[name]
        except KeyError:
            known = ", ".join(sorted(self.mutations)) or "none"
            raise UnknownMutationError(f"unknown mutation {name!r} (registered: {known})") from None

    def users_with_roles(self, roles: Sequence[str] | frozenset[str] | set[str]) -> set[str]:
        """Every user of the directory holding at least one of ``roles``."""
        wanted = set(roles)
        return {user for user, held in self.directory.items() if held & wanted}

    def evaluate(self, ctx: PolicyContext) -> Evaluation:
        """Decide one request: the payload limits, validators, then every matching policy.

        Args:
            ctx: The request and the state as it is now.

        Returns:
            ``invalid`` (a limit or validator refused), ``deny`` (with every deny reason),
            ``require_approvals`` (with every approval requirement and external check) or
            ``allow``.

        Raises:
            UnknownMutationError: No mutation is registered as ``ctx.mutation``.
            PolicyFailure: A policy raised, timed out or returned something other than a
                decision (and is not ``fail_open``); the message names it.
            ValueError: A requirement nobody can meet (a check nobody may report, a soft
                deny nobody may override).
        """
        mutation = self.get(ctx.mutation)
        too_large = self.limits.payload_refusal(ctx.payload)
        if too_large is not None:
            return Evaluation(EvaluationOutcome.INVALID, too_large, [])
        try:
            # A restore's payload is the state's earlier data, not the mutation's arguments.
            if ctx.compensation_mode != "restore":
                mutation.validate(ctx.state, ctx.payload)
        except ValidationRefused as exc:
            return Evaluation(EvaluationOutcome.INVALID, str(exc), [])
        combined = combine(decide(self.policies, ctx, self.policy_mode))
        warnings = combined.policy_warnings()
        if combined.denied:
            return Evaluation(EvaluationOutcome.DENY, combined.deny_reason, [], warnings=warnings)
        checks = combined.check_requirements(self.directory, ctx.requester)
        overrides = combined.override_requirements(self.directory, ctx.requester)
        if combined.requirements or checks or overrides:
            reqs = [self.requirement(d) for d in combined.requirements]
            return Evaluation(
                EvaluationOutcome.REQUIRE_APPROVALS, "", reqs, checks, overrides, warnings
            )
        return Evaluation(EvaluationOutcome.ALLOW, "", [], warnings=warnings)

    def evaluate_batch(self, contexts: Sequence[PolicyContext]) -> Evaluation:
        """Decide a batch request as one (``mutator.evaluation.evaluate_batch``)."""
        return evaluate_batch(
            self.evaluate, lambda name: self.get(name).quota is not None, self.limits, contexts
        )

    def requirement(self, named: NamedDecision) -> ApprovalRequirement:
        """A ``RequireApprovals`` decision as a requirement, its approvers expanded."""
        decision = named.decision
        assert isinstance(decision, RequireApprovals)
        eligible = set(decision.approvers) | self.users_with_roles(decision.roles)
        return ApprovalRequirement(
            policy=named.policy,
            count=decision.count,
            approvers=sorted(decision.approvers),
            roles=sorted(decision.roles),
            eligible=sorted(eligible),
            allow_self_approval=decision.allow_self_approval,
            timeout_seconds=decision.timeout.total_seconds(),
        )


__all__ = [
    "Evaluation",
    "Handler",
    "Mutation",
    "MutationApp",
    "Policy",
    "UnknownMutationError",
    "ValidationRefused",
    "Validator",
]
