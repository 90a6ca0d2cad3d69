"""Load a user's ``MutationApp`` from ``package.module:attr``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from mutator.app import MutationApp
from mutator.errors import MutatorInputError
from mutator.identity.directory import load_directory_file

EXAMPLE_APP = "mutator.example_app:app"


def load_app(spec: str, directory: str | Path | None = None) -> MutationApp:
    """The ``MutationApp`` named by ``package.module:attr``, imported from the working directory.

    Args:
        spec: ``package.module:attr``.
        directory: A directory file (TOML, or YAML by its ``.yaml``/``.yml`` name) that
            replaces the app's in-code directory entirely (users, roles and keys).

    Raises:
        MutatorInputError: The spec is malformed, the module cannot be imported, or the
            attribute is not a ``MutationApp``; the directory file is bad (``DirectoryError``);
            or a policy names an approver the directory lacks; or a mutation names a window
            the app does not declare.
    """
    app = _import_app(spec)
    app.check_windows()
    source = "the app's directory"
    if directory is not None:
        app.use_directory(load_directory_file(directory))
        source = f"directory file {directory}"
    problems = app.unknown_approvers()
    if problems:
        raise MutatorInputError(f"{source}: " + "; ".join(problems))
    return app


def _import_app(spec: str) -> MutationApp:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise MutatorInputError(
            f"--app {spec!r} is not of the form package.module:attr (e.g. {EXAMPLE_APP})"
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        # A user runs `mutator worker --app myapp:app` from their project directory.
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MutatorInputError(
            f"--app {spec!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    except Exception as exc:
        # The user's module itself is broken (SyntaxError, an error at import time).
        raise MutatorInputError(
            f"--app {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise MutatorInputError(
            f"--app {spec!r}: module {module_name!r} has no attribute {attr!r}"
        ) from None
    if not isinstance(app, MutationApp):
        raise MutatorInputError(
            f"--app {spec!r}: {attr!r} is a {type(app).__name__}, not a mutator.MutationApp"
        )
    return app
