"""A decision's proof (``SignedProof``) in the decision row's three proof columns, and back.

The envelope is stored as its RFC 8785 canonical JSON text: the hash chain covers that text
(chain.py), and a third party reads it as plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mutator.models import AuditEntry, Decision, SignedProof
from mutator.store import chain


def proof_columns(proof: SignedProof | None) -> dict[str, str | None]:
    """The proof columns of a decision row (all None for a decision without a proof)."""
    if proof is None:
        return dict.fromkeys(chain.PROOF_FIELDS)
    return {
        "proof_envelope": chain.canonical(proof.envelope).decode(),
        "proof_signature": proof.signature,
        "proof_fingerprint": proof.fingerprint,
    }


def proof_from_columns(row: Mapping[str, Any]) -> SignedProof | None:
    """The proof a decision row keeps, or None when its proof columns are all NULL.

    Reading never fails: columns edited into something else (an envelope that is not a JSON
    object, a NULL signature) come back as they are, ``{"unreadable": text}`` for such an
    envelope and ``""`` for a NULL column, and ``audit --verify`` reports the row.
    """
    values = [row.get(name) for name in chain.PROOF_FIELDS]
    if all(value is None for value in values):
        return None
    text, signature, fingerprint = values
    envelope: Any
    try:
        envelope = json.loads(text) if text is not None else {}
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        envelope = {"unreadable": text}
    return SignedProof(envelope=envelope, signature=signature or "", fingerprint=fingerprint or "")


def decision_from_row(row: Mapping[str, Any]) -> Decision:
    """A stored decision row as a ``Decision``, with its proof."""
    return Decision.model_validate({**row, "proof": proof_from_columns(row)})


def audit_entry_from_row(row: Mapping[str, Any]) -> AuditEntry:
    """A stored decision row as an ``AuditEntry``, with its proof."""
    return AuditEntry.model_validate({**row, "proof": proof_from_columns(row)})
