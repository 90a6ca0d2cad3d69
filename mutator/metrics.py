"""Prometheus metrics: the Temporal SDK's own plus Mutator's, on one endpoint per worker.

Mutator's metrics are recorded through Temporal's metric meters (replay-safe in workflows):
- mutator_requests{status, mutation}: request status transitions (a counter)
- mutator_approval_wait_seconds{mutation}: submission to quorum (a histogram)
- mutator_execution_seconds{mutation, outcome}: the execution activity (a histogram)
- mutator_stale_resolutions{mutation, strategy}: stale version resolutions (a counter)
- mutator_cas_retries{mutation}: compare-and-set conflicts retried on the new state
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from mutator.sdk_logging import sdk_logging

REQUESTS = "mutator_requests"
APPROVAL_WAIT = "mutator_approval_wait_seconds"
EXECUTION = "mutator_execution_seconds"
STALE = "mutator_stale_resolutions"
CAS_RETRIES = "mutator_cas_retries"


def prometheus_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """A Temporal runtime that serves /metrics on ``host:port``."""
    if not 0 < port < 65536:
        raise ValueError(f"metrics port must be 1-65535, got {port}")
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{host}:{port}", durations_as_seconds=True),
            logging=sdk_logging(),
        )
    )
