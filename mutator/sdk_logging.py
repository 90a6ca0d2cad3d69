"""Where the Temporal SDK's own log lines go: Python logging (stderr by default), not stdout.

The SDK's Rust core writes its warnings (e.g. ``TMPRL1103`` for a payload over 512 KiB) to
stdout unless told otherwise, which breaks ``--json`` output; every runtime Mutator creates
forwards them to the ``temporalio.core`` logger instead.
"""

from __future__ import annotations

import functools
import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

SDK_LOGGER = logging.getLogger("temporalio.core")


def sdk_logging() -> LoggingConfig:
    """The Temporal core's logging: its warnings, forwarded to the ``temporalio.core`` logger."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=SDK_LOGGER),
    )


@functools.cache
def sdk_runtime() -> Runtime:
    """The runtime of every client Mutator connects without metrics (one per process)."""
    return Runtime(telemetry=TelemetryConfig(logging=sdk_logging()))
