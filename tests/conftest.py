"""Real parts only: a Temporal dev server, the time-skipping test server, SQLite, PostgreSQL."""

from __future__ import annotations

import os

# pytest-xdist sets COLUMNS=80 in its workers; rich would freeze that width into the CLI's
# console at import, and the CLI tests' own COLUMNS would no longer apply.
os.environ.pop("COLUMNS", None)

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from mutator.store import Store
from mutator.temporal import SEARCH_ATTRIBUTES, binary_path
from tests.helpers.postgres import PostgresServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres-url",
        default=None,
        help="A PostgreSQL server URL (superuser) for store tests; default: start a private one "
        "from the installed PostgreSQL binaries, or MUTATOR_TEST_POSTGRES_URL",
    )


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary_path("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=[SearchAttributeKey.for_keyword(name) for name in SEARCH_ATTRIBUTES],
        dev_server_extra_args=["--log-level", "error"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary_path("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    server = PostgresServer.from_options(request.config.getoption("--postgres-url"))
    try:
        yield server
    finally:
        server.stop()


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mutator.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated store database on each backend."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    store = Store.from_url(url)
    store.migrate()
    store.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.from_url(db_url)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.from_url(_sqlite_url(tmp_path))
    s.migrate()
    try:
        yield s
    finally:
        s.dispose()
