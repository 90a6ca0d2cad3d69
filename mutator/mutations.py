"""A registered mutation: its handler, validators and declared gates.

``MutationApp.mutation`` makes one; re-exported by ``mutator.app``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mutator.effects import Effects, takes_effects
from mutator.models import OnStale
from mutator.quotas import Quota

# ``(state, payload) -> new state``, or ``(state, payload, effects) -> new state`` to emit
# side effects (mutator/effects.py).
Handler = Callable[..., dict[str, Any]]
Validator = Callable[[dict[str, Any], dict[str, Any]], None]
# inverse(before, after, payload) -> the payload of a request of the same mutation that
# corrects the change forward (mutator.compensation)
Inverse = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], dict[str, Any]]


class UnknownMutationError(LookupError):
    """The app has no mutation of that name."""


class ValidationRefused(ValueError):
    """A validator refused the payload or the state."""


@dataclass
class Mutation:
    """A registered mutation: its handler, stale strategy and validators.

    ``@app.mutation(...)`` returns it in place of the decorated function; calling it calls the
    handler.

    Attributes:
        name: The name requests use.
        handler: ``handler(state, payload) -> new state``, or
            ``handler(state, payload, effects)`` to emit side effects (``Effects``).
        on_stale: What a request does when its state moved past its base version.
        validators: Run, in order, before policies and again before executing.
        window: The name of the change window it may only execute in (``app.window``).
        quota: How many executions it may have per key and window (``Quota``).
        supersede: Whether a newer admitted request of the same state ends the older ones
            that have not started to execute (docs/gates.md#supersede).
        inverse_of: ``inverse(before, after, payload)``, declared by ``@mutation.inverse``;
            None: the mutation is compensated by ``restore`` only.
    """

    name: str
    handler: Handler
    on_stale: OnStale
    validators: list[Validator] = field(default_factory=list)
    window: str | None = None
    quota: Quota | None = None
    supersede: bool = False
    inverse_of: Inverse | None = None
    # Whether the handler takes ``effects`` (a third parameter): only such a mutation's
    # executions look for events to deliver.
    emits: bool = field(init=False)

    def __post_init__(self) -> None:
        """Learn from the handler's signature whether it emits side effects."""
        self.emits = takes_effects(self.handler)

    def __call__(
        self, state: dict[str, Any], payload: dict[str, Any], effects: Effects | None = None
    ) -> dict[str, Any]:
        """Apply the handler: the new state for ``state`` and ``payload``.

        ``effects`` collects the events it emits; a handler that takes effects but is called
        without them (a test, a dry-run) gets a collector of its own, thrown away.
        """
        if not self.emits:
            return self.handler(state, payload)
        return self.handler(state, payload, effects if effects is not None else Effects(self.name))

    def validator(self, fn: Validator) -> Validator:
        """Register ``fn(state, payload)`` as a validator of this mutation.

        Use as a decorator: ``@my_mutation.validator``. To refuse, ``fn`` raises ``ValueError``
        (or ``TypeError``, ``KeyError``) saying why; the request is rejected as
        ``validation_failed`` with that message.

        Args:
            fn: The validator.

        Returns:
            ``fn``, unchanged.
        """
        self.validators.append(fn)
        return fn

    def inverse(self, fn: Inverse) -> Inverse:
        """Register ``fn(before, after, payload)`` as this mutation's inverse.

        Use as a decorator: ``@my_mutation.inverse``. ``before`` and ``after`` are the state's
        data before and after an executed request of this mutation, ``payload`` that
        request's payload; ``fn`` returns the payload of a new request of the SAME mutation
        that corrects the change forward (``mutator compensate --mode inverse``). It runs on
        the worker when the compensation is submitted, and must be pure.

        Args:
            fn: The inverse.

        Returns:
            ``fn``, unchanged.

        Raises:
            ValueError: The mutation has an inverse already.
        """
        if self.inverse_of is not None:
            raise ValueError(f"mutation {self.name!r} declares its inverse twice")
        self.inverse_of = fn
        return fn

    def validate(self, state: dict[str, Any], payload: dict[str, Any]) -> None:
        """Run every validator on ``state`` and ``payload``.

        Raises:
            ValidationRefused: A validator refused; the message names the mutation.
        """
        for check in self.validators:
            try:
                check(state, payload)
            except (ValueError, TypeError, KeyError) as exc:
                raise ValidationRefused(f"{self.name}: {exc}") from exc
