"""The signed envelope: what an actor signs to submit, approve, reject or cancel a request.

Its signed bytes are the RFC 8785 (JSON Canonicalization Scheme) form of the envelope's JSON
object, so any producer that canonicalizes the same fields gets the same bytes. The fields are
documented in ``docs/security.md`` ("The signed envelope").
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, field_validator

SIGNATURE_NAMESPACE = "mutator"
"""The SSHSIG namespace of every Mutator signature (``ssh-keygen -Y sign -n mutator``)."""

Action = Literal["submit", "approve", "reject", "cancel", "check", "override"]

_ISSUED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_HEX_NONCE = re.compile(r"^[0-9a-f]{32,128}$")
_B64URL_NONCE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical JSON bytes of ``value``.

    Raises:
        ValueError: ``value`` has no canonical form (an integer beyond +-2**53, NaN, a
            non-string key, a type JSON does not have).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"no RFC 8785 canonical JSON form: {exc}") from None


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """SHA-256 (lowercase hex) of the payload's RFC 8785 canonical JSON.

    Raises:
        ValueError: The payload has no canonical form (see ``canonical_json``).
    """
    return hashlib.sha256(canonical_json(dict(payload))).hexdigest()


def format_issued_at(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with a ``Z`` and whole seconds, as envelopes carry it.

    Raises:
        ValueError: ``moment`` is naive (has no time zone).
    """
    if moment.tzinfo is None:
        raise ValueError("issued_at needs a time zone (a naive datetime is ambiguous)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    """A random nonce: 128 bits as 32 lowercase hex digits."""
    return secrets.token_hex(16)


class Envelope(BaseModel):
    """What the actor signs; every field is part of the signed bytes.

    Attributes:
        action: ``submit``, ``approve``, ``reject``, ``cancel``, ``check`` (a check's
            report; its comment is ``mutator.external_checks.check_comment``) or
            ``override`` (of a soft deny; its comment is the override's reason).
        request_id: The request acted on (for a submit, the request id it will have).
        actor: The user id acting; their directory keys must include the signing key.
        state_id: The request's state.
        mutation: The request's mutation name.
        payload_sha256: SHA-256 hex of the payload's RFC 8785 canonical JSON.
        base_version: The state version the actor saw (None: the state did not exist).
        comment: The submit's reason, the approval's comment, or the reject/cancel reason.
        issued_at: When it was signed, UTC, RFC 3339 ending in ``Z``.
        nonce: Random, at least 128 bits: 32-128 lowercase hex digits or 22-128 base64url
            characters (no padding).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    action: Action
    request_id: str = Field(min_length=1, max_length=256)
    actor: str = Field(min_length=1, max_length=256)
    state_id: str = Field(min_length=1, max_length=256)
    mutation: str = Field(min_length=1, max_length=256)
    payload_sha256: str
    base_version: int | None = Field(ge=0)
    comment: str = Field(max_length=4096)
    issued_at: str
    nonce: str

    @field_validator("payload_sha256")
    @classmethod
    def _sha256_hex(cls, value: str) -> str:
        if not _SHA256_HEX.match(value):
            raise ValueError("must be 64 lowercase hex digits (SHA-256 of the canonical payload)")
        return value

    @field_validator("issued_at")
    @classmethod
    def _rfc3339_utc(cls, value: str) -> str:
        if not _ISSUED_AT.match(value):
            raise ValueError("must be UTC RFC 3339 like 2026-11-30T19:00:00Z")
        datetime.fromisoformat(value)  # refuses an impossible date such as 2026-02-30
        return value

    @field_validator("nonce")
    @classmethod
    def _random_enough(cls, value: str) -> str:
        if not (_HEX_NONCE.match(value) or _B64URL_NONCE.match(value)):
            raise ValueError(
                "must be >= 128 random bits: 32-128 lowercase hex digits or 22-128 base64url "
                "characters"
            )
        if _HEX_NONCE.match(value) is None and re.fullmatch(r"[0-9a-fA-F]+", value):
            raise ValueError("a hex nonce must be lowercase and at least 32 digits")
        return value

    def issued_at_datetime(self) -> datetime:
        """``issued_at`` as an aware UTC datetime."""
        return datetime.fromisoformat(self.issued_at)

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: the envelope's RFC 8785 canonical JSON."""
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Envelope:
        """Parse an envelope from JSON text or an already-decoded object.

        Raises:
            pydantic.ValidationError: A field is missing, unknown or malformed.
        """
        if isinstance(data, Mapping):
            return cls.model_validate(dict(data))
        return cls.model_validate_json(data)


def make_envelope(
    *,
    action: Action,
    request_id: str,
    actor: str,
    state_id: str,
    mutation: str,
    payload: Mapping[str, Any],
    base_version: int | None,
    comment: str = "",
    now: datetime,
    nonce: str | None = None,
) -> Envelope:
    """An envelope for ``payload`` issued at ``now``, with a fresh nonce unless one is given.

    Raises:
        pydantic.ValidationError: A field is malformed.
        ValueError: The payload has no canonical JSON form, or ``now`` is naive.
    """
    return Envelope(
        action=action,
        request_id=request_id,
        actor=actor,
        state_id=state_id,
        mutation=mutation,
        payload_sha256=payload_sha256(payload),
        base_version=base_version,
        comment=comment,
        issued_at=format_issued_at(now),
        nonce=nonce if nonce is not None else new_nonce(),
    )
