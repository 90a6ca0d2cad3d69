"""What a starting worker logs about its identity mode, through run_worker itself."""

from __future__ import annotations

import logging

import pytest

from mutator import MutationApp, PolicyContext, PolicyDecision, RequireApprovals
from mutator.errors import MutatorUnavailable
from mutator.identity.startup import CLAIMED_WARNING, claimed_warning, startup_warnings
from mutator.store import Store
from mutator.workers import run_worker
from tests.mutator.identity.keys import SshKey


def two_named(ctx: PolicyContext) -> PolicyDecision:
    return RequireApprovals(2, approvers={"alice", "erin"})


def _app(alice_key: SshKey, identity: str) -> MutationApp:
    app = MutationApp(
        directory={
            "alice": {"roles": ["sre"], "keys": [alice_key.public_line]},
            "bob": ["sre"],  # a role holder without a key
            "erin": [],  # named by the policy, no key
            "zoe": [],  # neither: never votes
        },
        identity=identity,  # type: ignore[arg-type]
    )
    app.mutation("x.set")(lambda state, payload: payload)
    app.policy("x.*")(two_named)
    return app


async def _start_logs(app: MutationApp, store: Store, caplog: pytest.LogCaptureFixture) -> str:
    """Start a worker with no Temporal to reach: what it logged before it gave up."""
    caplog.set_level(logging.WARNING, logger="mutator.worker")
    with pytest.raises(MutatorUnavailable, match="127.0.0.1:1"):
        await run_worker(
            app=app,
            store=store,
            address="127.0.0.1:1",
            namespace="default",
            task_queue="tq-startup",
            connect_wait_seconds=0,
        )
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "mutator.worker")


async def test_a_claimed_worker_warns_louder_on_a_production_store(
    store: Store, alice_key: SshKey, caplog: pytest.LogCaptureFixture
) -> None:
    logged = await _start_logs(_app(alice_key, "claimed"), store, caplog)
    if store.url.startswith("sqlite"):
        assert logged == CLAIMED_WARNING
        assert logged == (
            "identity is claimed: anyone who can reach Temporal can approve under any name; "
            'use MutationApp(identity="signed") in production, see docs/security.md'
        )
    else:
        assert logged.startswith(
            "identity is claimed with a postgresql store, which looks like production: do not "
            "run production like this."
        )
        assert 'Use MutationApp(identity="signed")' in logged


async def test_a_signed_worker_names_the_voters_without_a_key(
    sqlite_store: Store, alice_key: SshKey, caplog: pytest.LogCaptureFixture
) -> None:
    logged = await _start_logs(_app(alice_key, "signed"), sqlite_store, caplog)
    assert logged == (
        "identity is signed, but bob, erin hold no key in the directory: they cannot submit, "
        "approve, reject or cancel until their ssh-ed25519 public keys are added "
        "(docs/security.md)"
    )


def test_a_signed_app_whose_voters_all_hold_keys_starts_quietly(alice_key: SshKey) -> None:
    app = MutationApp(
        directory={"alice": {"roles": ["sre"], "keys": [alice_key.public_line]}, "zoe": []},
        identity="signed",
    )
    assert startup_warnings(app, "postgresql://db/mutator") == []


@pytest.mark.parametrize(
    ("url", "production"),
    [
        ("sqlite:///.mutator/mutator.db", False),
        ("sqlite+pysqlite:///x.db", False),
        ("postgresql+psycopg://u@db/mutator", True),
        ("mysql://db/m", True),
    ],
)
def test_which_store_gets_the_production_warning(url: str, production: bool) -> None:
    assert ("looks like production" in claimed_warning(url)) is production
