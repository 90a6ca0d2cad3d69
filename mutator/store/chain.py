"""The tamper-evident record: each row's hash, chained to the previous row of its chain.

A decision row chains to the previous decision of its request (by ``seq``), a history row
to the previous version of its state. ``row_hash = SHA-256(prev || JCS(fields))``, where
``prev`` is the previous row's hash as 32 bytes (32 zero bytes for the first row), ``JCS``
the RFC 8785 canonical JSON of the row's fields below, and the hash is stored as lowercase
hex. docs/security.md ("Tamper-evident record") says the same for third parties.

A decision that carries a proof (a person's signed action, migration 0006) also hashes
PROOF_FIELDS, its three proof columns as stored (the envelope's RFC 8785 JSON text, the armored
signature, the key's fingerprint); a decision without one hashes DECISION_FIELDS alone, as
every row did before signing existed, so those rows keep their hashes. Nulling, editing or
swapping a stored proof therefore changes its row's hash.

Field values: ``at`` is the time in UTC as ISO 8601 with microseconds and ``+00:00``
(``2026-11-30T18:51:20.123456+00:00``); in ``data``, an integer outside I-JSON's safe range
(beyond 2**53 - 1) and a non-finite float are hashed as their decimal string (``"NaN"``,
``"Infinity"``, ``"-Infinity"``); all else as JSON.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

# The fields hashed, in the order the docs list them (JCS sorts keys anyway).
DECISION_FIELDS = ("request_id", "seq", "state_id", "category", "code", "actor", "reason", "at")
HISTORY_FIELDS = ("state_id", "version", "request_id", "actor", "at", "data")
# Hashed too when any of them is set (a signed decision).
PROOF_FIELDS = ("proof_envelope", "proof_signature", "proof_fingerprint")

GENESIS = bytes(32)
_SAFE_INTEGER = 2**53 - 1


def chain_hash(prev: str | None, fields: Mapping[str, Any]) -> str:
    """``SHA-256(prev || JCS(fields))`` as hex; ``prev`` None: the chain's first row."""
    return chain_hash_canonical(prev, canonical(fields))


def chain_hash_canonical(prev: str | None, canonical_fields: bytes) -> str:
    """``chain_hash`` of fields already in canonical form (see ``canonical``)."""
    start = bytes.fromhex(prev) if prev else GENESIS
    return hashlib.sha256(start + canonical_fields).hexdigest()


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON of ``fields``."""
    return rfc8785.dumps(dict(fields))


def decision_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of a decision row (DECISION_FIELDS, and PROOF_FIELDS when signed)."""
    fields = {name: row[name] for name in DECISION_FIELDS}
    fields["at"] = timestamp(row["at"])
    proof = {name: row.get(name) for name in PROOF_FIELDS}
    if any(value is not None for value in proof.values()):
        fields.update(proof)
    return fields


def history_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of a history row (a mapping with at least HISTORY_FIELDS)."""
    fields = {name: row[name] for name in HISTORY_FIELDS}
    fields["at"] = timestamp(row["at"])
    fields["data"] = json_safe(row["data"])
    return fields


def decision_hash(prev: str | None, row: Mapping[str, Any]) -> str:
    """The hash of a decision row that follows ``prev`` in its request's chain."""
    return chain_hash(prev, decision_fields(row))


def history_hash(prev: str | None, row: Mapping[str, Any]) -> str:
    """The hash of a history row that follows ``prev`` in its state's chain."""
    return chain_hash(prev, history_fields(row))


def timestamp(at: datetime) -> str:
    """``at`` in UTC, ISO 8601 with microseconds (a naive time is taken as UTC)."""
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


def json_safe(value: Any) -> Any:
    """``value`` with the numbers JCS refuses (see the module docstring) as strings."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
