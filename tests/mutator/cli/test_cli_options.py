"""The connection options of every command: after the command name, from their environment
variables, the flag winning over the variable (docs/cli.md, "Connection options").

Fast: `--help` of every command, the read commands against a temporary SQLite store, and the
Temporal commands against a port where no server listens (their error names the address and
namespace they tried, after the store's schema was checked at the URL they were given).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from mutator.cli.main import cli
from mutator.models import Decision, DecisionCategory, MutationRequest, RequestStatus
from mutator.store import Store
from tests.helpers.cli_stack import clean_env, free_port, run_mutator

ENV_VARS = {
    "--address": "TEMPORAL_ADDRESS",
    "--namespace": "TEMPORAL_NAMESPACE",
    "--db": "MUTATOR_DATABASE_URL",
    "--task-queue": "MUTATOR_TASK_QUEUE",
    "--json": None,
}
# TLS and API key, under Mutator's names and the `temporal` CLI's (docs/cli.md).
SECURITY = {
    "--tls": "TEMPORAL_TLS",
    "--tls-ca": "TEMPORAL_TLS_CA",
    "--tls-ca-path": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "--tls-cert": "TEMPORAL_TLS_CERT",
    "--tls-cert-path": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "--tls-key": "TEMPORAL_TLS_KEY",
    "--tls-key-path": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "--tls-server-name": "TEMPORAL_TLS_SERVER_NAME",
    "--api-key": "TEMPORAL_API_KEY",
}
ENV_VARS |= SECURITY
EVERYTHING = frozenset(ENV_VARS)
READS = frozenset({"--address", "--namespace", "--db", "--json", *SECURITY})
# Which connection options each command takes: the table in docs/cli.md.
CONNECTION_OPTIONS = {
    "dev": frozenset({"--db", "--task-queue", "--json", *SECURITY}),
    "worker": EVERYTHING,
    "db upgrade": frozenset({"--db", "--json"}),
    "submit": EVERYTHING,
    "approve": EVERYTHING,
    "reject": EVERYTHING,
    "cancel": EVERYTHING,
    "check": EVERYTHING,
    "compensate": EVERYTHING,
    "override": EVERYTHING,
    "wait": EVERYTHING,
    "batch": EVERYTHING,
    "locks": EVERYTHING,
    "show": READS,
    "list": READS,
    "state": READS,
    "history": READS,
    "audit": READS,
    "deliveries": READS,
    "effects": READS,
    "watch": READS,
    "freeze start": frozenset({"--db", "--json"}),
    "freeze end": EVERYTHING,
    "freeze list": frozenset({"--db", "--json"}),
    "calendar": frozenset({"--db", "--json"}),
}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def command_names(group: Any, prefix: str = "") -> list[str]:
    """Every command of a group (Typer's own click, vendored: no isinstance with `click`)."""
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += command_names(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names


def mutator(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """One `mutator` command line, with only ``env`` of the Mutator and Temporal settings."""
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("MUTATOR_", "TEMPORAL_"))
    }
    return CliRunner().invoke(cli, list(args), env={**unset, "COLUMNS": "200", **(env or {})})


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite store with request r1 and state acct-1 at version 1."""
    monkeypatch.chdir(tmp_path)  # the default store, ./.mutator/, is never this one
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.from_url(url)
    try:
        store.migrate()
        request = MutationRequest(
            request_id="r1",
            state_id="acct-1",
            mutation="counter.add",
            payload={"amount": 1},
            requester="alice",
            status=RequestStatus.EXECUTED,
            revision=1,
            created_at=T0,
            updated_at=T0,
            decisions=[
                Decision(
                    category=DecisionCategory.LIFECYCLE, code="submitted", actor="alice", at=T0
                )
            ],
        )
        store.apply(request=request, change=lambda data: {"n": 1}, expected_version=None)
    finally:
        store.dispose()
    return url


@pytest.fixture
def unmigrated_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'unmigrated.db'}"


def test_every_command_is_in_the_table() -> None:
    assert sorted(command_names(typer.main.get_command(cli))) == sorted(CONNECTION_OPTIONS)


@pytest.mark.parametrize("command", sorted(CONNECTION_OPTIONS))
def test_help_lists_the_connection_options_and_their_variables(command: str) -> None:
    shown = mutator(*command.split(), "--help")
    assert shown.exit_code == 0, shown.output
    flags = set(re.findall(r"(--[a-z-]+)", shown.stdout)) & EVERYTHING
    assert flags == CONNECTION_OPTIONS[command]
    for flag in flags:
        if ENV_VARS[flag] is not None:
            listed = rf"env var: [A-Z_, ]*\b{ENV_VARS[flag]}\b"
            assert re.search(listed, shown.stdout), (flag, shown.stdout)


READ_COMMANDS = [
    (["show", "r1"], "r1"),
    (["list"], "r1"),
    (["state", "acct-1"], "acct-1"),
    (["history", "acct-1"], "r1"),
    (["audit", "--request", "r1"], "submitted"),
]


@pytest.mark.parametrize(("args", "shows"), READ_COMMANDS, ids=lambda v: str(v))
def test_reads_take_the_store_from_the_environment(
    store_url: str, args: list[str], shows: str
) -> None:
    env = {
        "MUTATOR_DATABASE_URL": store_url,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "TEMPORAL_NAMESPACE": "ns-env",
        "MUTATOR_UI_URL": "http://ui",
    }
    done = mutator(*args, env=env)
    assert done.exit_code == 0, done.output
    assert shows in done.stdout
    if args[0] == "show":
        assert "http://ui/namespaces/ns-env/workflows/" in done.stdout


@pytest.mark.parametrize(("args", "shows"), READ_COMMANDS, ids=lambda v: str(v))
def test_reads_take_flags_after_the_command_over_the_environment(
    store_url: str, unmigrated_url: str, args: list[str], shows: str
) -> None:
    env = {"MUTATOR_DATABASE_URL": unmigrated_url, "TEMPORAL_NAMESPACE": "ns-env"}
    flags = ["--db", store_url, "--address", "127.0.0.1:1", "--namespace", "ns-flag"]
    done = mutator(*args, *flags, env={**env, "MUTATOR_UI_URL": "http://ui"})
    assert done.exit_code == 0, done.output
    assert shows in done.stdout
    if args[0] == "show":
        assert "http://ui/namespaces/ns-flag/workflows/" in done.stdout
    as_json = mutator(*args, *flags, "--json", env=env)
    assert as_json.exit_code == 0, as_json.output
    assert as_json.stdout.lstrip()[0] in "[{"
    # And the store named by the environment is the one used when the flag is absent.
    refused = mutator(*args, "--json", env=env)
    assert refused.exit_code == 2, refused.output
    assert "schema revision none" in refused.stdout


TEMPORAL_COMMANDS = [
    ["submit", "acct-1", "counter.add", "--actor", "alice"],
    ["approve", "r1", "--actor", "bob"],
    ["reject", "r1", "--actor", "bob", "--reason", "no"],
    ["cancel", "r1", "--actor", "alice"],
    ["wait", "r1"],
    ["locks"],
    ["batch", "items.json", "--actor", "alice"],
]


@pytest.fixture
def items_file(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(
        '[{"state_id": "acct-1", "mutation": "counter.add", "payload": {}}]'
    )


@pytest.mark.usefixtures("items_file")
@pytest.mark.parametrize("args", TEMPORAL_COMMANDS, ids=lambda v: v[0])
def test_temporal_commands_connect_where_the_environment_says(
    store_url: str, args: list[str]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {
        "MUTATOR_DATABASE_URL": store_url,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "ns-env",
        "MUTATOR_TASK_QUEUE": "tq-env",
    }
    done = mutator(*args, "--json", env=env)
    assert done.exit_code == 2, done.output
    assert f"cannot reach the Temporal server at {address} (namespace 'ns-env')" in done.stdout


@pytest.mark.usefixtures("items_file")
@pytest.mark.parametrize("args", TEMPORAL_COMMANDS, ids=lambda v: v[0])
def test_temporal_commands_take_flags_after_the_command_over_the_environment(
    store_url: str, unmigrated_url: str, args: list[str]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {
        "MUTATOR_DATABASE_URL": unmigrated_url,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "TEMPORAL_NAMESPACE": "ns-env",
        "MUTATOR_TASK_QUEUE": "tq-env",
    }
    flags = ["--address", address, "--namespace", "ns-flag", "--task-queue", "tq-flag"]
    done = mutator(*args, *flags, "--db", store_url, "--json", env=env)
    assert done.exit_code == 2, done.output
    assert f"cannot reach the Temporal server at {address} (namespace 'ns-flag')" in done.stdout
    # Without --db, the store the environment names is checked first, and refused.
    refused = mutator(*args, *flags, "--json", env=env)
    assert refused.exit_code == 2, refused.output
    assert "schema revision none" in refused.stdout


def test_worker_connects_where_its_flags_and_environment_say(
    store_url: str, tmp_path: Path
) -> None:
    # A subprocess, as a user runs it: the worker installs signal handlers and reads
    # MUTATOR_CONNECT_WAIT_SECONDS when it starts.
    address = f"127.0.0.1:{free_port()}"
    env = clean_env(
        {
            "MUTATOR_DATABASE_URL": store_url,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "ns-env",
            "MUTATOR_CONNECT_WAIT_SECONDS": "0",
        }
    )
    done = run_mutator("worker", "--json", env=env, cwd=tmp_path)
    assert done.code == 2, done
    assert f"at {address} (namespace 'ns-env')" in done.error
    flags = ["--address", "127.0.0.1:1", "--namespace", "ns-flag"]
    flagged = run_mutator("worker", *flags, env=env, cwd=tmp_path)
    assert flagged.code == 2, flagged
    assert "at 127.0.0.1:1 (namespace 'ns-flag')" in flagged.stderr


def test_db_upgrade_migrates_the_store_of_the_flag_or_the_environment(
    tmp_path: Path, unmigrated_url: str
) -> None:
    from_env = mutator("db", "upgrade", "--json", env={"MUTATOR_DATABASE_URL": unmigrated_url})
    assert from_env.exit_code == 0, from_env.output
    assert f'"database": "{unmigrated_url}"' in from_env.stdout
    other = f"sqlite:///{tmp_path / 'other.db'}"
    flagged = mutator(
        "db", "upgrade", "--db", other, "--json", env={"MUTATOR_DATABASE_URL": unmigrated_url}
    )
    assert flagged.exit_code == 0, flagged.output
    assert f'"database": "{other}"' in flagged.stdout


def test_dev_refuses_tls_and_api_keys_from_flags_or_the_environment(tmp_path: Path) -> None:
    # `mutator dev` starts a plain local server: a TLS setting meant for another cluster
    # is refused before anything starts, not silently dropped.
    data_dir = tmp_path / ".mutator"
    flagged = mutator("dev", "--data-dir", str(data_dir), "--tls-cert", "c.pem", "--json")
    assert flagged.exit_code == 2, flagged.output
    assert "--tls-cert (TEMPORAL_TLS_CERT): `mutator dev` starts a plain local" in flagged.stdout
    from_env = mutator(
        "dev",
        "--data-dir",
        str(data_dir),
        "--json",
        env={"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "true"},
    )
    assert from_env.exit_code == 2, from_env.output
    assert "--tls (TEMPORAL_TLS), --api-key (TEMPORAL_API_KEY):" in from_env.stdout
    assert "cannot use TLS or an API key" in from_env.stdout
    assert not data_dir.exists()
