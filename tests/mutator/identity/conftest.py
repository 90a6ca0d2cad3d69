from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutator.identity.keys import SshKey, make_key


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def alice_key(keydir: Path) -> SshKey:
    return make_key(keydir, "alice")


@pytest.fixture(scope="session")
def bob_key(keydir: Path) -> SshKey:
    return make_key(keydir, "bob")


@pytest.fixture(scope="session")
def stranger_key(keydir: Path) -> SshKey:
    return make_key(keydir, "stranger")


@pytest.fixture(scope="session")
def locked_key(keydir: Path) -> SshKey:
    return make_key(keydir, "locked", passphrase="correct horse")
