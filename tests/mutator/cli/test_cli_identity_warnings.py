"""`mutator worker` says at start what a claimed identity means, louder on a production store."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli_stack import clean_env, free_port, run_mutator


def test_a_claimed_worker_warns_at_start(db_url: str, tmp_path: Path) -> None:
    # A subprocess, as a user runs it; no Temporal to reach, so it stops after its warning.
    env = clean_env(
        {
            "MUTATOR_DATABASE_URL": db_url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "MUTATOR_CONNECT_WAIT_SECONDS": "0",
        }
    )
    done = run_mutator("worker", "--json", env=env, cwd=tmp_path)
    assert done.code == 2, done
    assert "cannot reach the Temporal server" in done.error
    if db_url.startswith("sqlite"):
        assert (
            "identity is claimed: anyone who can reach Temporal can approve under any name; "
            'use MutationApp(identity="signed") in production, see docs/security.md'
        ) in done.stderr
    else:
        assert (
            "identity is claimed with a postgresql store, which looks like production: do not "
            "run production like this."
        ) in done.stderr
    assert "identity is claimed" not in done.stdout  # --json output stays one document
