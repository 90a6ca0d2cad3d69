"""Signing from the command line: what `--key`, `--sign/--no-sign` and `--print-signal` send.

Against a real `mutator dev` stack running the example app in signed mode, with real keys
(tests/helpers/cli_signing.py). What each command sent is read back from the workflow's event
history and verified with `mutator.identity.verify.verify` against the request as stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from mutator.store import Store
from tests.helpers import cli_signing
from tests.helpers.cli_signing import (
    SignedStack,
    check,
    pending,
    sent_inputs,
    stored,
)
from tests.helpers.cli_stack import poll
from tests.helpers.cli_world import ok, uid

pytestmark = pytest.mark.slow

signed_stack = cli_signing.signed_stack
store = cli_signing.signed_store
default_home = cli_signing.default_home


# -- what a signed command sends --------------------------------------------------------


async def test_signed_submit_and_votes_verify(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "alice",
            "--comment",
            "fine",
            *signed_stack.key("alice"),
            "--json",
        )
    )
    done = ok(
        signed_stack.run(
            "approve", request_id, "--actor", "bob", *signed_stack.key("bob"), "--json"
        )
    )
    assert done["status"] in ("approved", "executing", "executed")
    request = stored(store, request_id)
    sent = await sent_inputs(signed_stack.stack.address, request_id)
    [start] = sent["start"]
    assert check(start, request, "submit", "dave", signed_stack).envelope.comment == "raise it"
    by_alice, by_bob = sent["approve"]
    verified = check(by_alice, request, "approve", "alice", signed_stack)
    assert (verified.envelope.comment, verified.fingerprint) == (
        "fine",
        signed_stack.keys["alice"].fingerprint(),
    )
    assert check(by_bob, request, "approve", "bob", signed_stack).actor == "bob"


async def test_signed_reject_cancel_and_batch(
    signed_stack: SignedStack, store: Store, tmp_path: Path
) -> None:
    rejected, canceled = pending(signed_stack), pending(signed_stack)
    ok(
        signed_stack.run(
            "reject",
            rejected,
            "--actor",
            "bob",
            "--reason",
            "no",
            *signed_stack.key("bob"),
            "--json",
        )
    )
    ok(signed_stack.run("cancel", canceled, "--actor", "dave", *signed_stack.key("dave"), "--json"))
    [reject] = (await sent_inputs(signed_stack.stack.address, rejected))["reject"]
    assert (
        check(reject, stored(store, rejected), "reject", "bob", signed_stack).envelope.comment
        == "no"
    )
    [cancel] = (await sent_inputs(signed_stack.stack.address, canceled))["cancel"]
    assert check(cancel, stored(store, canceled), "cancel", "dave", signed_stack).actor == "dave"

    items = tmp_path / "items.json"
    acct = uid("b")
    items.write_text(
        json.dumps([{"state_id": acct, "mutation": "counter.add", "payload": {"amount": 2}}])
    )
    batch_id = uid("batch")
    ok(
        signed_stack.run(
            "batch",
            str(items),
            "--actor",
            "alice",
            "--request-id",
            batch_id,
            *signed_stack.key("alice"),
            "--json",
        )
    )
    [start] = (await sent_inputs(signed_stack.stack.address, batch_id))["start"]
    assert (
        check(start, stored(store, batch_id), "submit", "alice", signed_stack).envelope.mutation
        == "batch"
    )


# -- --print-signal -----------------------------------------------------------------------


async def test_print_signal_prints_a_signed_input_that_counts_when_sent(
    signed_stack: SignedStack, store: Store
) -> None:
    request_id = pending(signed_stack)
    before = stored(store, request_id)
    printed = ok(
        signed_stack.run(
            "approve",
            request_id,
            "--actor",
            "alice",
            "--comment",
            "from the UI",
            "--print-signal",
            *signed_stack.key("alice"),
            "--json",
        )
    )
    assert (printed["workflow_id"], printed["signal"], printed["namespace"]) == (
        f"mutation-request:{request_id}",
        "approve_signal",
        "default",
    )
    data = printed["input"]
    assert set(data) == {"actor", "comment", "envelope", "signature"}
    assert (data["actor"], data["comment"]) == ("alice", "from the UI")
    assert check(data, before, "approve", "alice", signed_stack).envelope.comment == "from the UI"
    after = stored(store, request_id)  # nothing was sent
    assert (after.revision, after.approvals) == (before.revision, [])
    assert set(await sent_inputs(signed_stack.stack.address, request_id)) == {"start", "admission"}

    # What the Temporal UI's "Send a Signal" does with the pasted JSON: it counts.
    client = await Client.connect(
        signed_stack.stack.address, data_converter=pydantic_data_converter
    )
    await client.get_workflow_handle(printed["workflow_id"]).signal("approve_signal", data)

    def approved() -> list[str] | None:
        actors = [a.actor for a in stored(store, request_id).approvals]
        return actors or None

    assert poll(approved, timeout=30, what="the signalled approval") == ["alice"]


def test_print_signal_in_words(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    shown = signed_stack.run(
        "reject",
        request_id,
        "--actor",
        "bob",
        "--reason",
        "too high",
        "--print-signal",
        *signed_stack.key("bob"),
    )
    assert shown.code == 0, shown
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Workflow: mutation-request:{request_id} (namespace default)"
    assert lines[1] == "Signal:   reject_signal"
    data = json.loads(lines[3])
    assert (data["actor"], data["reason"]) == ("bob", "too high")
    assert check(data, stored(store, request_id), "reject", "bob", signed_stack).actor == "bob"
    assert lines[6].startswith(
        f"temporal workflow signal --namespace default --workflow-id mutation-request:{request_id}"
        " --name reject_signal --input '{"
    )
    assert stored(store, request_id).status.value == "pending"


# -- which key, and when ------------------------------------------------------------------


async def test_submit_signs_only_when_asked(
    signed_stack: SignedStack, store: Store, default_home: Path
) -> None:
    acct = uid("acct")
    base = ("submit", acct, "counter.add", "--payload", '{"amount": 1}', "--actor", "alice")
    env = {"HOME": str(default_home)}
    plain, asked = uid("plain"), uid("asked")
    # Without --key, --sign or MUTATOR_SIGNING_KEY a submit is unsigned, default key or not:
    # this signed worker rejects it.
    refused = ok(signed_stack.run(*base, "--request-id", plain, "--json", env=env), code=1)
    assert refused["rejection"]["code"] == "signature_refused"
    ok(signed_stack.run(*base, "--request-id", asked, "--sign", "--json", env=env))
    [unsigned] = (await sent_inputs(signed_stack.stack.address, plain))["start"]
    assert (unsigned["envelope"], unsigned["signature"]) == (None, None)
    [start] = (await sent_inputs(signed_stack.stack.address, asked))["start"]
    assert check(start, stored(store, asked), "submit", "alice", signed_stack).actor == "alice"


async def test_no_sign_wins_over_the_environment(signed_stack: SignedStack) -> None:
    request_id = uid("nosign")
    env = {"MUTATOR_SIGNING_KEY": str(signed_stack.keys["alice"].private)}
    signed_stack.run(
        "submit",
        uid("acct"),
        "counter.add",
        "--payload",
        '{"amount": 1}',
        "--actor",
        "alice",
        "--request-id",
        request_id,
        "--no-sign",
        "--json",
        env=env,
    )
    [start] = (await sent_inputs(signed_stack.stack.address, request_id))["start"]
    assert start["signature"] is None


async def test_the_environment_names_the_key(signed_stack: SignedStack, store: Store) -> None:
    request_id = pending(signed_stack)
    env = {"MUTATOR_SIGNING_KEY": str(signed_stack.keys["bob"].private)}
    ok(signed_stack.run("approve", request_id, "--actor", "bob", "--json", env=env))
    [vote] = (await sent_inputs(signed_stack.stack.address, request_id))["approve"]
    assert check(vote, stored(store, request_id), "approve", "bob", signed_stack).actor == "bob"
