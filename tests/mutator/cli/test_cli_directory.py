"""`mutator worker/dev --directory FILE` (or MUTATOR_DIRECTORY): a bad file stops the start.

The directory file replaces the app's in-code directory and is read once, at start; a change
applies at the next start (tests/mutator/identity/test_directory.py checks the replacement,
test_directory_file_applies_at_restart below runs it end to end).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli_stack import CliStack, clean_env, free_port, run_mutator


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["worker", "dev"])
def test_a_bad_directory_file_exits_2_naming_file_line_and_user(
    command: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "team.toml", '[alice]\nroles = ["sre"]\nkeys = ["ssh-ed25519 AAAAx"]\n')
    db = tmp_path / "store.db"
    result = run_mutator(
        command,
        "--directory",
        str(path),
        "--db",
        f"sqlite:///{db}",
        "--json",
        env=clean_env({"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}),
        cwd=tmp_path,
    )
    assert result.code == 2, result
    assert result.error.startswith(f"directory file {path} line 3: user 'alice': key 1: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert not db.exists()  # nothing was started or stored
    assert not (tmp_path / ".mutator").exists()


def test_the_environment_variable_names_the_file_too(tmp_path: Path) -> None:
    path = write(tmp_path / "team.yaml", "alice:\n  roles: sre\n")
    env = clean_env({"MUTATOR_DIRECTORY": str(path)})
    result = run_mutator("worker", "--json", env=env, cwd=tmp_path)
    assert result.code == 2, result
    assert result.error.startswith(f"directory file {path} line 2: user 'alice': roles must be")


def test_a_policy_approver_missing_from_the_file_stops_the_start(tmp_path: Path) -> None:
    # The example app's limits.* policy names alice, bob and carol.
    path = write(tmp_path / "team.toml", 'alice = ["sre"]\nbob = ["sre"]\n')
    result = run_mutator("dev", "--directory", str(path), "--json", env=clean_env(), cwd=tmp_path)
    assert result.code == 2, result
    assert result.error.startswith(f"directory file {path}: policy 'two_of_three' (")
    assert "names approver 'carol', who is not in the directory" in result.error
    assert not (tmp_path / ".mutator").exists()


ROLE_APP = """\
from mutator import MutationApp, RequireApprovals

app = MutationApp(directory={"alice": ["sre"]})

@app.mutation("counter.add")
def add(state, payload):
    return {**state, "value": state.get("value", 0) + payload["amount"]}

@app.policy("counter.*")
def one_sre(ctx):
    return RequireApprovals(1, roles={"sre"})
"""


def approve(stack: CliStack, request_id: str, actor: str) -> dict[str, object]:
    result = stack.run("approve", request_id, "--actor", actor, "--json")
    body = json.loads(result.stdout)
    assert isinstance(body, dict), result
    return body


@pytest.mark.slow
def test_directory_file_applies_at_restart(tmp_path: Path) -> None:
    (tmp_path / "roleapp.py").write_text(ROLE_APP)
    team = write(tmp_path / "team.toml", 'dave = ["sre"]\ncarol = ["dev"]\n')
    stack = CliStack(tmp_path, app="roleapp:app", extra_args=("--directory", str(team)))
    stack.start()
    try:
        first = stack.run(
            "submit",
            "c1",
            "counter.add",
            "--payload",
            '{"amount": 1}',
            "--actor",
            "carol",
            "--request-id",
            "r1",
            "--json",
        )
        assert json.loads(first.stdout)["status"] == "pending", first
        refused = stack.run("approve", "r1", "--actor", "alice", "--json")
        assert refused.code == 1, refused  # alice is an sre in code only: the file replaced it
        assert "'alice' is not an eligible approver (eligible: dave)" in refused.error
        assert approve(stack, "r1", "dave")["status"] in ("approved", "executed")
        write(team, 'erin = ["sre"]\ncarol = ["dev"]\n')
        second = stack.run(
            "submit",
            "c1",
            "counter.add",
            "--payload",
            '{"amount": 1}',
            "--actor",
            "carol",
            "--request-id",
            "r2",
            "--json",
        )
        assert json.loads(second.stdout)["status"] == "pending", second
        # The running worker read the file at start: erin is not an approver yet.
        early = stack.run("approve", "r2", "--actor", "erin", "--json")
        assert early.code == 1, early
        assert "'erin' is not an eligible approver (eligible: dave)" in early.error
    finally:
        assert stack.stop() == 0
    stack.start()
    try:
        third = stack.run(
            "submit",
            "c1",
            "counter.add",
            "--payload",
            '{"amount": 1}',
            "--actor",
            "carol",
            "--request-id",
            "r3",
            "--json",
        )
        assert json.loads(third.stdout)["status"] == "pending", third
        late = stack.run("approve", "r3", "--actor", "dave", "--json")
        assert late.code == 1, late
        assert "'dave' is not an eligible approver (eligible: erin)" in late.error
        assert approve(stack, "r3", "erin")["status"] in ("approved", "executed")
    finally:
        assert stack.stop() == 0
