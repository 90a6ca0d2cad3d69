"""Quotas from the command line: a worker refuses an app with a bad quota; `show` prints the
quota gate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mutator import lifecycle
from mutator.store import Store
from tests.helpers.cli_stack import clean_env, run_mutator
from tests.helpers.lifecycle import approved_by_policy, at
from tests.mutator.test_lifecycle_quota import full

APP = """
from datetime import timedelta
from mutator import MutationApp, Quota

app = MutationApp()

@app.mutation("limits.set", quota=Quota({fields}))
def set_limit(state, payload):
    return {{**state, **payload}}
"""


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite store."""
    url = f"sqlite:///{tmp_path / 'quota.db'}"
    store = Store.from_url(url)
    store.migrate()
    store.dispose()
    return url


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("limit=0, per=timedelta(hours=1)", "Quota limit must be a positive integer, got 0"),
        ("limit=-3, per=timedelta(hours=1)", "Quota limit must be a positive integer, got -3"),
        (
            "limit=3, per=timedelta(0)",
            "Quota per must be a positive timedelta, got datetime.timedelta(0)",
        ),
        (
            "limit=3, per=timedelta(hours=1), key='team'",
            "Quota key must be one of state, requester, mutation, got 'team'",
        ),
        (
            "limit=3, per=timedelta(hours=1), on_exceeded='queue'",
            "Quota on_exceeded must be one of wait, reject, got 'queue'",
        ),
    ],
)
def test_worker_start_refuses_a_bad_quota(
    sqlite_url: str, tmp_path: Path, fields: str, message: str
) -> None:
    (tmp_path / "quotaapp.py").write_text(textwrap.dedent(APP.format(fields=fields)))
    done = run_mutator(
        "worker",
        "--app",
        "quotaapp:app",
        "--db",
        sqlite_url,
        "--address",
        "127.0.0.1:1",
        "--json",
        env=clean_env({"MUTATOR_CONNECT_WAIT_SECONDS": "0"}),
        cwd=tmp_path,
    )
    assert done.code == 2, done
    assert message in done.error, done
    store = Store.from_url(sqlite_url)
    try:
        assert store.registered_mutations() == []
    finally:
        store.dispose()


@pytest.mark.slow
def test_show_prints_the_quota_gate(sqlite_url: str, tmp_path: Path) -> None:
    request = approved_by_policy()
    lifecycle.execution_refused(request, full(), at(10), via_lane=False)
    store = Store.from_url(sqlite_url)
    try:
        store.save_request(request.model_copy(update={"revision": 1}))
    finally:
        store.dispose()
    done = run_mutator(
        "show", request.request_id, "--db", sqlite_url, env=clean_env(), cwd=tmp_path
    )
    assert done.code == 0, done
    assert "pending (quota)" in done.stdout, done
    [gate] = [line.split() for line in done.stdout.splitlines() if "gate quota" in line]
    assert " ".join(gate) == (
        "gate quota requester alice: waiting — 3 of 3 executions of limits.set per 1h for "
        f"requester alice; next slot at {at(3600).isoformat()}"
    )
    assert "scheduled for" in done.stdout
