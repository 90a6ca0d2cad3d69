"""A `mutator dev` stack running the example app in signed identity mode, and its users' keys.

Every user of the example (alice, bob, carol, and dave, the README's requester) has a real
ed25519 key made by ssh-keygen; carol's is passphrase-protected. `stranger` has a key that is
in no directory. The directory file (`team.toml`) replaces the app's directory at start.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from mutator.identity.directory import Directory, load_directory_file
from mutator.identity.envelope import Action
from mutator.identity.requests import expected_for
from mutator.identity.verify import Verified, verify
from mutator.models import MutationRequest
from mutator.store import Store
from tests.helpers.cli_stack import CliResult, CliStack
from tests.helpers.cli_world import ok, uid
from tests.helpers.histories import request_events
from tests.mutator.identity.keys import SshKey, make_key

USERS = {"alice": ["sre"], "bob": ["sre"], "carol": ["finance"], "dave": []}
CAROL_PASSPHRASE = "carol's passphrase"

SIGNED_EXAMPLE_APP = '''"""The example app (mutator/example_app.py) in signed identity mode."""
from mutator import MutationApp
from mutator.example_app import app as example

app = MutationApp(identity="signed")
app.mutations.update(example.mutations)
app.policies.extend(example.policies)
'''


def make_keys(where: Path) -> dict[str, SshKey]:
    keys = {
        user: make_key(where, user, passphrase=CAROL_PASSPHRASE if user == "carol" else "")
        for user in USERS
    }
    keys["stranger"] = make_key(where, "stranger")
    return keys


def write_directory(path: Path, keys: dict[str, SshKey]) -> Path:
    lines = []
    for user, roles in USERS.items():
        lines += [
            f"[{user}]",
            f"roles = {json.dumps(roles)}",
            f"keys = [{json.dumps(keys[user].public_line)}]",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@dataclass
class SignedStack:
    """A signed-mode `mutator dev` stack and the keys of its users."""

    stack: CliStack
    keys: dict[str, SshKey]
    directory_file: Path

    @property
    def directory(self) -> Directory:
        return load_directory_file(self.directory_file)

    def key(self, user: str) -> tuple[str, ...]:
        return ("--key", str(self.keys[user].private))

    def run(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return self.stack.run(*args) if env is None else run_with(self.stack, env, *args)


def run_with(stack: CliStack, extra_env: dict[str, str], *args: str) -> CliResult:
    from tests.helpers.cli_stack import run_mutator

    return run_mutator(*args, env={**stack.env, **extra_env}, cwd=stack.workdir)


@pytest.fixture(scope="session")
def signed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedStack]:
    workdir = tmp_path_factory.mktemp("signed-stack")
    keys = make_keys(workdir / "keys")
    team = write_directory(workdir / "team.toml", keys)
    (workdir / "signed_example.py").write_text(SIGNED_EXAMPLE_APP)
    stack = CliStack(workdir, app="signed_example:app", extra_args=("--directory", str(team)))
    stack.start()
    try:
        yield SignedStack(stack, keys, team)
    finally:
        if stack.proc is not None:
            assert stack.stop() == 0, stack.logs()


async def received_inputs(client: Client, request_id: str) -> dict[str, list[Any]]:
    """What the server received for a request: its start input, each update's and signal's.

    Keyed by ``start`` and by each update's and signal's name, in history order.
    """
    found: dict[str, list[Any]] = {"start": []}
    for event in await request_events(client, request_id):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payload = event.workflow_execution_started_event_attributes.input.payloads[0]
            found["start"].append(json.loads(payload.data))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            [payload] = request.input.args.payloads
            found.setdefault(request.input.name, []).append(json.loads(payload.data))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = event.workflow_execution_signaled_event_attributes
            payloads = signaled.input.payloads
            data = json.loads(payloads[0].data) if payloads else None
            found.setdefault(signaled.signal_name, []).append(data)
    return found


async def sent_inputs(address: str, request_id: str) -> dict[str, list[Any]]:
    """``received_inputs`` of the Temporal server at ``address``."""
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    return await received_inputs(client, request_id)


@pytest.fixture(scope="session")
def signed_store(signed_stack: SignedStack) -> Iterator[Store]:
    found = Store.from_url(signed_stack.stack.db_url)
    try:
        yield found
    finally:
        found.dispose()


def pending(signed: SignedStack, *extra: str) -> str:
    """A new limits.set request by dave, signed, waiting for two approvals."""
    request_id = uid("lim")
    body = ok(
        signed.run(
            "submit",
            uid("acct"),
            "limits.set",
            "--payload",
            '{"name": "daily", "value": 500}',
            "--actor",
            "dave",
            "--reason",
            "raise it",
            "--request-id",
            request_id,
            *signed.key("dave"),
            *extra,
            "--json",
        )
    )
    assert (body["status"], body["pending_reason"]) == ("pending", "approval"), body
    return request_id


def check(
    sent: dict[str, Any], request: MutationRequest, action: Action, actor: str, signed: SignedStack
) -> Verified:
    return verify(
        sent["envelope"],
        sent["signature"],
        signed.directory,
        expected=expected_for(request, action, actor),
        now=datetime.now(UTC),
    )


def stored(store: Store, request_id: str) -> MutationRequest:
    found = store.get_request(request_id)
    assert found is not None
    return found


@pytest.fixture
def default_home(signed_stack: SignedStack, tmp_path: Path) -> Path:
    """A home whose default key, ~/.ssh/id_ed25519, is alice's."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    for suffix in ("", ".pub"):
        shutil.copy(f"{signed_stack.keys['alice'].private}{suffix}", ssh / f"id_ed25519{suffix}")
    return tmp_path / "home"
