"""The `mutator dev` stack the command-line tests share, and what they read from it.

test_cli and test_cli_door each take these fixtures into their module, as they did when
test_cli_door took them from test_cli.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from mutator.store import Store
from tests.helpers.cli_stack import CliResult, CliStack


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(result: CliResult, code: int = 0) -> Any:
    """The JSON a command printed, after checking its exit code."""
    assert result.code == code, result
    assert "Traceback" not in result.stderr, result
    return result.json()


def submit(
    stack: CliStack, acct: str, mutation: str, payload: str, actor: str, *extra: str
) -> CliResult:
    return stack.run(
        "submit", acct, mutation, "--payload", payload, "--actor", actor, *extra, "--json"
    )


def parallel(stack: CliStack, *commands: tuple[str, ...]) -> list[CliResult]:
    """Independent commands at once (each is a process that spends most of its time starting)."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: stack.run(*args), commands))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliStack]:
    s = CliStack(tmp_path_factory.mktemp("cli-stack"))
    s.start()
    try:
        yield s
    finally:
        if s.proc is not None:
            assert s.stop() == 0, s.logs()


@pytest.fixture(scope="session")
def cli_store(stack: CliStack) -> Iterator[Store]:
    """The stack's store, read in-process to prove a refused command changed nothing."""
    store = Store.from_url(stack.db_url)
    try:
        yield store
    finally:
        store.dispose()


@dataclass(frozen=True)
class Snapshot:
    state: Any
    history: Any
    requests: dict[str, tuple[str, int]]
    audit: int

    @classmethod
    def take(cls, store: Store, state_id: str) -> Snapshot:
        state = store.get_state(state_id)
        return cls(
            state=state.model_dump() if state else None,
            history=[h.model_dump() for h in store.history(state_id)],
            requests={
                r.request_id: (r.status.value, r.revision)
                for r in store.list_requests(state_id=state_id, limit=10_000)
            },
            audit=len(store.audit(state_id=state_id)),
        )


@dataclass(frozen=True)
class World:
    """A state with one executed request, a pending one alice submitted and carol approved."""

    acct: str
    executed: str
    pending: str
    baseline: Snapshot


@pytest.fixture(scope="session")
def world(stack: CliStack, cli_store: Store) -> World:
    acct = uid("bad")
    executed = ok(submit(stack, acct, "counter.add", '{"amount": 1}', "bob"))
    assert executed["status"] == "executed"
    pending = uid("pend")
    ok(
        stack.run(
            "submit",
            acct,
            "limits.set",
            "--payload",
            '{"name": "weekly", "value": 9}',
            "--actor",
            "alice",
            "--request-id",
            pending,
            "--json",
        )
    )
    voted = ok(stack.run("approve", pending, "--actor", "carol", "--json"))
    assert voted["status"] == "pending"
    return World(acct, executed["request_id"], pending, Snapshot.take(cli_store, acct))
