"""A worker and commands through a real TLS endpoint: mutual TLS, server names, API keys.

`temporal server start-dev` has no TLS options, so the endpoint is `TLSProxy`
(tests/helpers/tls_proxy.py): Python's `ssl` terminating TLS 1.2/1.3 with ALPN ``h2`` in
front of the shared `mutator dev` stack's plain port, requiring a client certificate signed
by the test CA. What this covers: the client verifying the server (CA, host name), the
server verifying the client (mutual TLS), and the API key reaching the server side as
``authorization: Bearer <key>`` (the proxy decodes the HTTP/2 headers it forwards). What it
does not: a Temporal server checking the key or the certificate's identity itself (its
authorizer); the dev server accepts any call that arrives.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mutator.client import MutatorClient, TemporalTLS
from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.store import Store
from tests.helpers import cli_world
from tests.helpers.cli_stack import (
    CliResult,
    CliStack,
    clean_env,
    mutator_command,
    poll,
    run_mutator,
)
from tests.helpers.tls_proxy import Pki, TLSProxy, make_pki

pytestmark = pytest.mark.slow

stack = cli_world.stack
cli_store = cli_world.cli_store
ok = cli_world.ok
uid = cli_world.uid
Snapshot = cli_world.Snapshot

TASK_QUEUE = "tls-q"
WORKER_KEY = "worker-api-key"
CLI_KEY = "cli-api-key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy(stack: CliStack, pki: Pki) -> Iterator[TLSProxy]:
    endpoint = TLSProxy(stack.address, pki).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def mtls_flags(pki: Pki, proxy: TLSProxy) -> list[str]:
    return [
        "--address",
        proxy.address,
        "--tls-ca",
        str(pki.ca),
        "--tls-cert",
        str(pki.client_cert),
        "--tls-key",
        str(pki.client_key),
        "--api-key",
        CLI_KEY,
        "--task-queue",
        TASK_QUEUE,
        "--json",
    ]


@pytest.fixture(scope="module")
def tls_worker(stack: CliStack, pki: Pki, proxy: TLSProxy) -> Iterator[dict[str, Any]]:
    """`mutator worker` reaching Temporal only through the proxy, configured by environment
    variables under the `temporal` CLI's names; the `running` line it printed."""
    env = clean_env(
        {
            "MUTATOR_DATABASE_URL": stack.db_url,
            "TEMPORAL_ADDRESS": proxy.address,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key),
            "TEMPORAL_API_KEY": WORKER_KEY,
            "MUTATOR_TASK_QUEUE": TASK_QUEUE,
        }
    )
    out = stack.workdir / f"{uid('tls-worker')}.out"
    # Its warnings (the example app's identity is claimed) go to stderr, apart from the JSON.
    with out.open("wb") as sink, out.with_suffix(".err").open("wb") as err_sink:
        proc = subprocess.Popen(
            [*mutator_command(), "worker", "--json"],
            cwd=stack.workdir,
            env=env,
            stdout=sink,
            stderr=err_sink,
        )
    try:

        def running() -> dict[str, Any] | None:
            assert proc.poll() is None, out.read_text()
            text = out.read_text()
            return CliResult([], 0, text, "").json() if '"running"' in text else None

        yield poll(running, timeout=60, what="`mutator worker` through mutual TLS")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def acct(stack: CliStack, pki: Pki, proxy: TLSProxy, tls_worker: dict[str, Any]) -> str:
    """A state with one request executed through mutual TLS."""
    state = uid("tls")
    done = ok(
        stack.run(
            "submit",
            state,
            "counter.add",
            "--payload",
            '{"amount": 2}',
            "--actor",
            "bob",
            *mtls_flags(pki, proxy),
        )
    )
    assert done["status"] == "executed"
    return state


def test_worker_and_commands_work_through_mutual_tls(
    stack: CliStack,
    cli_store: Store,
    pki: Pki,
    proxy: TLSProxy,
    tls_worker: dict[str, Any],
    acct: str,
) -> None:
    assert tls_worker["temporal_address"] == proxy.address
    assert tls_worker["temporal_tls"] == "mutual TLS"
    assert tls_worker["temporal_api_key"] is True
    flags = mtls_flags(pki, proxy)
    lim = uid("lim")
    payload = '{"name": "daily", "value": 7}'
    args = ["submit", acct, "limits.set", "--payload", payload, "--actor", "dave"]
    pending = ok(stack.run(*args, "--request-id", lim, *flags))
    assert pending["status"] == "pending"
    assert ok(stack.run("approve", lim, "--actor", "alice", *flags))["status"] == "pending"
    assert ok(stack.run("approve", lim, "--actor", "bob", *flags))["status"] in (
        "approved",
        "executing",
        "executed",
    )
    # `wait` asks the request's workflow (through the proxy) until it ends.
    assert ok(stack.run("wait", lim, *flags))["status"] == "executed"
    # Reads come from the store; they accept the same TLS flags (not --task-queue).
    read_flags = [flag for flag in flags if flag not in ("--task-queue", TASK_QUEUE)]
    shown = ok(stack.run("show", lim, *read_flags))
    assert shown["status"] == "executed"
    assert cli_store.get_state(acct) is not None
    # The keys reached the server side of TLS as bearer tokens, each from its process.
    assert f"Bearer {WORKER_KEY}" in proxy.authorizations
    assert f"Bearer {CLI_KEY}" in proxy.authorizations


def test_the_server_name_option_sets_the_name_verified(
    stack: CliStack, pki: Pki, proxy: TLSProxy, acct: str
) -> None:
    flags = mtls_flags(pki, proxy)
    named = ok(stack.run("locks", "--tls-server-name", "temporal.test", *flags))
    assert isinstance(named, list)
    wrong = stack.run("locks", "--tls-server-name", "other.example", *flags)
    assert wrong.code == 2, wrong
    assert "not valid for that host name" in wrong.error
    assert "--tls-server-name" in wrong.error
    assert "Traceback" not in wrong.stderr


def bad_tls_cases(pki: Pki) -> list[tuple[str, list[str], list[str]]]:
    """(case, TLS flags, what the message says) for a proxy that wants mutual TLS."""
    ca, cert, key = str(pki.ca), str(pki.client_cert), str(pki.client_key)
    return [
        (
            "wrong CA",
            ["--tls-ca", str(pki.other_ca), "--tls-cert", cert, "--tls-key", key],
            ["not signed by a CA this client trusts", "--tls-ca"],
        ),
        (
            "system CAs",
            ["--tls"],
            ["not signed by a CA this client trusts", "--tls-ca"],
        ),
        (
            "no client certificate",
            ["--tls-ca", ca],
            ["requires a client certificate it trusts", "--tls-cert"],
        ),
        (
            "client certificate of another CA",
            [
                "--tls-ca",
                ca,
                "--tls-cert",
                str(pki.other_client_cert),
                "--tls-key",
                str(pki.other_client_key),
            ],
            ["requires a client certificate it trusts"],
        ),
        (
            "wrong key",
            ["--tls-ca", ca, "--tls-cert", cert, "--tls-key", str(pki.other_client_key)],
            [f"--tls-key (TEMPORAL_TLS_KEY): '{pki.other_client_key}' is not the private key"],
        ),
        (
            "certificate without key",
            ["--tls-ca", ca, "--tls-cert", cert],
            [f"--tls-cert (TEMPORAL_TLS_CERT) is '{cert}' but --tls-key", "is not set"],
        ),
        (
            "missing CA file",
            ["--tls-ca", ca + ".missing"],
            [f"--tls-ca (TEMPORAL_TLS_CA): cannot read '{ca}.missing'", "No such file"],
        ),
        (
            "key file given as certificate",
            ["--tls-ca", ca, "--tls-cert", key, "--tls-key", key],
            [f"--tls-cert (TEMPORAL_TLS_CERT): '{key}' holds no PEM certificate"],
        ),
    ]


def test_bad_tls_settings_exit_2_naming_the_problem_and_change_nothing(
    stack: CliStack, cli_store: Store, pki: Pki, proxy: TLSProxy, acct: str
) -> None:
    before = Snapshot.take(cli_store, acct)
    for case, tls, says in bad_tls_cases(pki):
        request_id = uid("refused")
        payload = '{"amount": 3}'
        result = stack.run(
            "submit",
            acct,
            "counter.add",
            "--payload",
            payload,
            "--actor",
            "bob",
            "--request-id",
            request_id,
            "--address",
            proxy.address,
            "--task-queue",
            TASK_QUEUE,
            *tls,
            "--json",
        )
        assert result.code == 2, (case, result)
        for text in says:
            assert text in result.error, (case, result)
        assert "Traceback" not in result.stderr, (case, result)
        assert cli_store.get_request(request_id) is None, case
    assert Snapshot.take(cli_store, acct) == before


def test_tls_to_a_plain_endpoint_says_so(stack: CliStack, pki: Pki, acct: str) -> None:
    result = stack.run("locks", "--tls-ca", str(pki.ca), "--json")
    assert result.code == 2, result
    assert f"the TLS connection to the Temporal server at {stack.address} failed" in result.error


def test_worker_refuses_a_bad_handshake_at_once(
    stack: CliStack, pki: Pki, proxy: TLSProxy, tmp_path: Path
) -> None:
    # A wait far longer than the command's timeout: the worker must not retry a handshake
    # that the same settings can never pass.
    env = clean_env({"MUTATOR_DATABASE_URL": stack.db_url, "MUTATOR_CONNECT_WAIT_SECONDS": "3600"})
    result = run_mutator(
        "worker",
        "--address",
        proxy.address,
        "--tls-ca",
        str(pki.other_ca),
        "--task-queue",
        uid("tq"),
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert result.code == 2, result
    assert "not signed by a CA this client trusts" in result.error
    no_cert = run_mutator(
        "worker",
        "--address",
        proxy.address,
        "--tls-ca",
        str(pki.ca),
        "--task-queue",
        uid("tq"),
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert no_cert.code == 2, no_cert
    assert "requires a client certificate it trusts" in no_cert.error
    assert "Traceback" not in no_cert.stderr
    missing = run_mutator(
        "worker", "--tls-key", str(pki.client_key), "--json", env=env, cwd=tmp_path
    )
    assert missing.code == 2, missing
    assert "--tls-key (TEMPORAL_TLS_KEY) is" in missing.error
    assert "but --tls-cert (TEMPORAL_TLS_CERT) is not set" in missing.error


def test_python_client_connects_with_tls_and_an_api_key(
    stack: CliStack, pki: Pki, proxy: TLSProxy, tls_worker: dict[str, Any], acct: str
) -> None:
    async def use() -> tuple[str, int]:
        client = await MutatorClient.connect(
            proxy.address,
            database_url=stack.db_url,
            task_queue=TASK_QUEUE,
            tls=TemporalTLS(ca=pki.ca, cert=pki.client_cert, key=pki.client_key),
            api_key="python-key",
        )
        try:
            done = await client.submit(acct, "counter.add", {"amount": 1}, actor="bob")
            return done.status.value, len(await client.locks())
        finally:
            await client.close()

    status, _ = asyncio.run(use())
    assert status == "executed"
    assert "Bearer python-key" in proxy.authorizations

    async def refused(tls: TemporalTLS) -> None:
        await MutatorClient.connect(proxy.address, database_url=stack.db_url, tls=tls)

    with pytest.raises(MutatorInputError, match=r"--tls-cert \(TEMPORAL_TLS_CERT\) is"):
        asyncio.run(refused(TemporalTLS(ca=pki.ca, cert=pki.client_cert)))
    with pytest.raises(MutatorUnavailable, match="requires a client certificate it trusts"):
        asyncio.run(refused(TemporalTLS(ca=pki.ca)))
