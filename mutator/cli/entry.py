"""Running the `mutator` command: exit codes, errors as JSON with --json, a clean process exit."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import typer

from mutator.cli import output

USAGE_ERROR = 2


def _click_exception() -> type[Exception]:
    """The ClickException class Typer uses (its own vendored click or the click package)."""
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == "ClickException":
            return klass
    raise RuntimeError("typer.BadParameter does not derive from a ClickException")


ClickException = _click_exception()


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def invoke(app: typer.Typer, argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit code: 0 ok, 1 refused, 2 bad usage or input.

    With ``--json`` anywhere on the line every error, usage errors included, is printed as
    ``{"error": "..."}`` on stdout; without it people get Typer's usual messages on stderr.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        if not as_json:
            try:
                app(args=args, prog_name="mutator")
            except SystemExit as exc:
                return _exit_code(exc.code)
            return 0
        try:
            result = app(args=args, prog_name="mutator", standalone_mode=False)
        except ClickException as exc:
            output.print_error(exc.format_message(), True)  # type: ignore[attr-defined]
            code: int = getattr(exc, "exit_code", USAGE_ERROR)
            return code
        except typer.Abort:
            output.print_error("aborted", True)
            return 1
        return result if isinstance(result, int) else 0
    except Exception as exc:  # a bug, not an expected failure: show where it happened
        traceback.print_exc()
        output.print_error(f"internal error: {type(exc).__name__}: {exc}", as_json)
        return 1


def exit_process(code: int) -> NoReturn:
    """Flush and leave at once.

    The Temporal client's Rust runtime keeps threads that can crash a normal interpreter
    shutdown (temporalio/sdk-python#300); everything the command started is closed by now.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
