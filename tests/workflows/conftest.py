"""Fixtures of the signed-identity workflow tests: keys, and a running signed worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from mutator.identity.signing import KeyFileSigner
from mutator.store import Store
from tests.helpers.signing import SignedWorld, make_signers, signed_app
from tests.helpers.workers import running_mutator


@pytest.fixture(scope="session")
def signers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFileSigner]:
    """An ed25519 key per test user (made by ssh-keygen), mallory's in no directory."""
    return make_signers(tmp_path_factory.mktemp("signers"))


@pytest.fixture
async def world(
    dev_env: WorkflowEnvironment, sqlite_store: Store, signers: dict[str, KeyFileSigner]
) -> AsyncIterator[SignedWorld]:
    """A worker running ``signed_app`` on a fresh task queue, and the means to sign for it."""
    async with running_mutator(dev_env, sqlite_store, signed_app(signers)) as client:
        yield SignedWorld(dev_env, sqlite_store, client.task_queue, signers)
