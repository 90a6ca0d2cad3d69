"""The PostgreSQL URL's query options (sslmode, sslrootcert, ...) reach psycopg unchanged.

Against the test session's real PostgreSQL server, which has no TLS: ``sslmode=disable``
works and ``sslmode=require`` fails with a message naming the database (exit 2 from the
CLI, no traceback), and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.store import Store
from tests.helpers.cli_stack import clean_env, run_mutator
from tests.helpers.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def server_has_tls(server: PostgresServer) -> bool:
    with server.engine.connect() as conn:
        return bool(conn.execute(text("SHOW ssl")).scalar() == "on")


def test_query_options_reach_the_driver(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    store = Store.from_url(f"{url}?sslmode=disable&application_name=mutator-tls-test")
    try:
        store.migrate()
        store.check_schema()
        with store.engine.connect() as conn:
            name = conn.execute(text("SELECT current_setting('application_name')")).scalar()
            encrypted = conn.execute(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar()
        assert name == "mutator-tls-test"
        assert encrypted is False
        assert store.url.endswith("?application_name=mutator-tls-test&sslmode=disable")
    finally:
        store.dispose()


def test_sslmode_require_without_server_tls_names_the_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    if server_has_tls(postgres_server):
        pytest.skip("this PostgreSQL server has TLS: sslmode=require would succeed")
    url = postgres_server.create_database()
    required = f"{url}?sslmode=require"
    store = Store.from_url(required)
    try:
        with pytest.raises(MutatorUnavailable) as caught:
            store.migrate()
    finally:
        store.dispose()
    message = str(caught.value)
    assert f"cannot reach the database {required} to migrate the schema" in message
    assert "SSL was required" in message
    assert "sslmode, sslrootcert, sslcert, sslkey" in message
    done = run_mutator("db", "upgrade", "--db", required, "--json", env=clean_env(), cwd=tmp_path)
    assert done.code == 2, done
    assert f"cannot reach the database {required}" in done.error
    assert "Traceback" not in done.stderr
    # Nothing was created: the same database without TLS has no schema yet.
    plain = Store.from_url(f"{url}?sslmode=disable")
    try:
        assert plain.schema_status()[0] is None
    finally:
        plain.dispose()


def test_an_unknown_query_option_is_bad_input(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = f"{postgres_server.create_database()}?sslmod=require"
    store = Store.from_url(url)
    try:
        with pytest.raises(MutatorInputError, match=r'invalid connection option "sslmod"'):
            store.check_schema()
    finally:
        store.dispose()
    done = run_mutator("show", "r1", "--db", url, "--json", env=clean_env(), cwd=tmp_path)
    assert done.code == 2, done
    assert f"the database URL {url} is refused by the driver" in done.error
    assert "Traceback" not in done.stderr
