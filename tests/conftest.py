"""Real parts only: a Temporal dev server, the time-skipping test server, SQLite, PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import LaneSettings
from mutator.app import MutationApp
from mutator.client import MutatorClient
from mutator.store import Store
from mutator.temporal import SEARCH_ATTRIBUTES, MutatorWorkers, binary_path, build_workers
from tests import apps
from tests.postgres import PostgresServer

T = TypeVar("T")


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
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated store database on each backend."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    store = Store.from_url(url)
    store.migrate()
    store.dispose()
    yield url


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


def new_worker(
    client: Client,
    store: Store,
    *,
    app: MutationApp = apps.app,
    task_queue: str | None = None,
    max_concurrent_mutations: int = 10,
    lane_settings: LaneSettings | None = None,
) -> MutatorWorkers:
    return build_workers(
        client,
        app=app,
        store=store,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=lane_settings,
    )


@asynccontextmanager
async def running_mutator(
    env: WorkflowEnvironment,
    store: Store,
    app: MutationApp = apps.app,
    *,
    max_concurrent_mutations: int = 10,
    lane_settings: LaneSettings | None = None,
) -> AsyncIterator[MutatorClient]:
    """A worker on a fresh task queue and a client that submits to it."""
    store.register_mutations({name: m.on_stale for name, m in app.mutations.items()})
    worker = new_worker(
        env.client,
        store,
        app=app,
        max_concurrent_mutations=max_concurrent_mutations,
        lane_settings=lane_settings,
    )
    async with worker:
        yield MutatorClient(
            env.client,
            store,
            task_queue=worker.task_queue,
            search_attributes=not env.supports_time_skipping_v1,
        )


async def assert_eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.1
) -> T:
    """Retry ``check`` until it stops raising AssertionError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(interval)
