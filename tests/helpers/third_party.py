"""A third-party approver as docs/security.md ("Third-party approvers") describes one: it
reads the request's JSON and builds, signs and sends a vote with hashlib, rfc8785 and
ssh-keygen only, no Mutator code."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import rfc8785

from tests.mutator.identity.keys import ssh_keygen_sign


def documented_payload_sha256(shown: dict[str, Any]) -> str:
    """The payload, or for a batch {"items": [...]} with the four fields of each item."""
    if shown["mutation"] == "batch":
        hashed: dict[str, Any] = {
            "items": [
                {
                    "state_id": item["state_id"],
                    "mutation": item["mutation"],
                    "payload": item["payload"],
                    "expected_version": item["expected_version"],
                }
                for item in shown["items"]
            ]
        }
    else:
        hashed = shown["payload"]
    return hashlib.sha256(rfc8785.dumps(hashed)).hexdigest()


def documented_vote(
    shown: dict[str, Any], private_key: Path, actor: str, action: str, text: str, now: datetime
) -> dict[str, Any]:
    """Steps 2 to 4 on the request's JSON ``shown`` (``mutator show ID --json``): the
    envelope, its SSHSIG signature by ssh-keygen, and the update's or signal's input."""
    envelope = {
        "action": action,
        "request_id": shown["request_id"],
        "actor": actor,
        "state_id": shown["state_id"],
        "mutation": shown["mutation"],
        "payload_sha256": documented_payload_sha256(shown),
        "base_version": shown["base_version"],
        "comment": text,
        "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nonce": secrets.token_hex(16),
    }
    signature = ssh_keygen_sign(private_key, rfc8785.dumps(envelope))
    field = "comment" if action == "approve" else "reason"
    return {"actor": actor, field: text, "envelope": envelope, "signature": signature}
