"""Errors the client and CLI raise; each maps to one CLI exit code."""


class MutatorError(Exception):
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
