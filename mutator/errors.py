"""Errors the client and CLI raise; each maps to one CLI exit code."""


class MutatorError(Exception):
    """The base of every error the client and CLI raise.

    Attributes:
        exit_code: The CLI's exit code for it: 1 when the request or the domain refused, 2 for
            bad input or an unreachable service.
    """

    exit_code = 1


class MutatorRefused(MutatorError):
    """The domain refused the action (ineligible approver, request already ended, ...)."""

    exit_code = 1


class MutatorInputError(MutatorError):
    """Bad usage or input (malformed JSON, unknown request id, bad --app)."""

    exit_code = 2


class MutatorNotFound(MutatorInputError):
    """No request or state with that id."""


class MutatorUnavailable(MutatorError):
    """Temporal or the database cannot be reached, or the schema is not set up."""

    exit_code = 2
