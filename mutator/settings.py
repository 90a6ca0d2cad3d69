"""Defaults of the connection settings; the CLI reads flags and environment variables."""

from __future__ import annotations

DEFAULT_DATABASE_URL = "sqlite:///.mutator/mutator.db"
TASK_QUEUE = "mutator"
# Where `mutator show` links to (MUTATOR_UI_URL): the dev server's Web UI by default.
DEFAULT_UI_URL = "http://localhost:8233"
