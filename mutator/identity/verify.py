"""Verify a signed envelope: pure, no clock read, one specific error per failed check."""

from __future__ import annotations

import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sshsig
from pydantic import ValidationError
from sshsig.sshsig import SshsigSignature

from mutator.errors import MutatorRefused
from mutator.identity.directory import Directory
from mutator.identity.envelope import SIGNATURE_NAMESPACE, Action, Envelope

DEFAULT_TOLERANCE = timedelta(minutes=5)
"""How far ``issued_at`` may be from the verifier's clock, either way, by default."""

MAX_SIGNATURE_CHARS = 4096


class SignatureRefused(MutatorRefused):
    """A signed action does not count; ``code`` names the failed check.

    Attributes:
        code: A stable identifier of the check, such as ``unknown_key``.
    """

    code = "signature_refused"


class MalformedEnvelope(SignatureRefused):
    """The envelope is not a valid envelope (missing, unknown or malformed field)."""

    code = "malformed_envelope"


class MalformedSignature(SignatureRefused):
    """The signature is not an armored SSHSIG signature."""

    code = "malformed_signature"


class UnknownActor(SignatureRefused):
    """The envelope's actor is not in the directory."""

    code = "unknown_actor"


class UnknownKey(SignatureRefused):
    """The signing key belongs to nobody in the directory."""

    code = "unknown_key"


class KeyOfAnotherUser(SignatureRefused):
    """The signing key belongs to another user than the envelope's actor."""

    code = "key_of_another_user"


class BadSignature(SignatureRefused):
    """The signature does not verify over the envelope (or is for another namespace)."""

    code = "bad_signature"


class EnvelopeMismatch(SignatureRefused):
    """The envelope is for another action, request, state, mutation, payload or version."""

    code = "envelope_mismatch"


class IssuedAtOutOfTolerance(SignatureRefused):
    """``issued_at`` is too far in the past or the future."""

    code = "issued_at_out_of_tolerance"


class ReplayedNonce(SignatureRefused):
    """The envelope's nonce was already used for this request."""

    code = "replayed_nonce"


@dataclass(frozen=True)
class Expected:
    """What the request is now: the envelope must say exactly this.

    Attributes:
        action: The action being taken.
        request_id: The request's id.
        state_id: The request's state.
        mutation: The request's mutation.
        payload_sha256: SHA-256 hex of the request's canonical payload.
        base_version: The request's base version as it stands.
        actor: The actor the caller claims, when it claims one (None: the envelope's counts).
        comment: The comment or reason the caller sends with it, when it sends one (None: not
            checked).
    """

    action: Action
    request_id: str
    state_id: str
    mutation: str
    payload_sha256: str
    base_version: int | None
    actor: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Verified:
    """A verified envelope: who signed, with which key."""

    actor: str
    fingerprint: str
    envelope: Envelope


def parse_envelope(data: Envelope | str | bytes | Mapping[str, Any]) -> Envelope:
    """The envelope in ``data`` (a model, JSON text or a decoded object).

    Raises:
        MalformedEnvelope: The envelope is missing a field, has an unknown one, or one is
            malformed; the message names the fields.
    """
    if isinstance(data, Envelope):
        return data
    try:
        return Envelope.from_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'envelope'}: {err['msg']}" for err in exc.errors()
        )
        raise MalformedEnvelope(f"malformed envelope: {problems}") from None
    except (TypeError, ValueError) as exc:
        raise MalformedEnvelope(f"malformed envelope: {exc}") from None


def _parse_signature(signature: str) -> SshsigSignature:
    if not isinstance(signature, str) or len(signature) > MAX_SIGNATURE_CHARS:
        raise MalformedSignature(
            f"malformed signature: expected an armored SSH signature of at most "
            f"{MAX_SIGNATURE_CHARS} characters"
        )
    text = signature.strip()
    if not (
        text.startswith("-----BEGIN SSH SIGNATURE-----")
        and text.endswith("-----END SSH SIGNATURE-----")
    ):
        raise MalformedSignature(
            "malformed signature: not an armored SSH signature "
            "(-----BEGIN SSH SIGNATURE----- ... -----END SSH SIGNATURE-----)"
        )
    try:
        return SshsigSignature.from_armored(text)
    except (ValueError, NotImplementedError, binascii.Error, EOFError) as exc:
        raise MalformedSignature(f"malformed signature: {exc or type(exc).__name__}") from None
    except Exception as exc:  # a truncated blob fails inside sshsig's reader (struct.error)
        raise MalformedSignature(f"malformed signature: truncated or corrupt ({exc})") from None


def _signing_fingerprint(parsed: SshsigSignature) -> str:
    try:
        return sshsig.PublicKey.from_ssh_encoding(parsed.public_key).sha256_str()
    except Exception as exc:  # ValueError, NotImplementedError, or struct.error when truncated
        reason = str(exc) or type(exc).__name__
        raise MalformedSignature(f"malformed signature: its public key: {reason}") from None


def signature_fingerprint(signature: str) -> str:
    """The SHA256 fingerprint of the key that made ``signature`` (the signature not checked).

    Raises:
        MalformedSignature: ``signature`` is not an armored SSHSIG signature.
    """
    return _signing_fingerprint(_parse_signature(signature))


def _check_key(envelope: Envelope, fingerprint: str, directory: Directory) -> None:
    if envelope.actor not in directory:
        raise UnknownActor(f"actor {envelope.actor!r} is not in the directory")
    owner = directory.key_owner(fingerprint)
    if owner is None:
        raise UnknownKey(f"signing key {fingerprint} belongs to no user of the directory")
    if owner != envelope.actor:
        raise KeyOfAnotherUser(
            f"signing key {fingerprint} belongs to {owner!r}, not to actor {envelope.actor!r}"
        )


def _check_expected(envelope: Envelope, expected: Expected) -> None:
    pairs = [
        ("action", envelope.action, expected.action),
        ("request_id", envelope.request_id, expected.request_id),
        ("state_id", envelope.state_id, expected.state_id),
        ("mutation", envelope.mutation, expected.mutation),
        ("payload_sha256", envelope.payload_sha256, expected.payload_sha256),
        ("base_version", envelope.base_version, expected.base_version),
    ]
    if expected.actor is not None:
        pairs.append(("actor", envelope.actor, expected.actor))
    if expected.comment is not None:
        pairs.append(("comment", envelope.comment, expected.comment))
    for name, signed, now in pairs:
        if signed != now:
            raise EnvelopeMismatch(
                f"envelope {name} is {signed!r} but the request's is {now!r}: the signature "
                "is for something else; sign again against the request as it stands"
            )


def _check_time(envelope: Envelope, now: datetime, tolerance: timedelta) -> None:
    if now.tzinfo is None:
        raise ValueError("verify(now=...) needs an aware datetime")
    drift = envelope.issued_at_datetime() - now
    if abs(drift) > tolerance:
        when = "in the future" if drift > timedelta(0) else "ago"
        raise IssuedAtOutOfTolerance(
            f"envelope issued_at {envelope.issued_at} is {abs(drift)} {when}, beyond the "
            f"tolerance of {tolerance}: sign again"
        )


def verify(
    envelope: Envelope | str | bytes | Mapping[str, Any],
    signature: str,
    directory: Directory,
    *,
    expected: Expected,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    used_nonces: Collection[str] = (),
) -> Verified:
    """Check that ``signature`` is the actor's over ``envelope`` and that it fits the request.

    Checks in order: the envelope parses; the signature parses; the actor is in the directory
    and holds the signing key; the signature verifies over the envelope's canonical bytes in
    the ``mutator`` namespace; the envelope matches ``expected``; ``issued_at`` is within
    ``tolerance`` of ``now``; the nonce is not in ``used_nonces``.

    Args:
        envelope: The envelope as received.
        signature: The armored SSHSIG signature.
        directory: Users and their keys.
        expected: What the request is now.
        now: The verifier's time (aware); the function reads no clock.
        tolerance: How far ``issued_at`` may be from ``now``, either way.
        used_nonces: Nonces already used for this request.

    Returns:
        The actor and the fingerprint of the key that signed.

    Raises:
        SignatureRefused: A subclass naming the failed check, with a message saying why.
    """
    parsed_envelope = parse_envelope(envelope)
    parsed_signature = _parse_signature(signature)
    fingerprint = _signing_fingerprint(parsed_signature)
    _check_key(parsed_envelope, fingerprint, directory)
    try:
        sshsig.check_signature(
            parsed_envelope.signed_bytes(), signature.strip(), namespace=SIGNATURE_NAMESPACE
        )
    except (sshsig.InvalidSignature, NotImplementedError, ValueError) as exc:
        raise BadSignature(
            f"signature by {fingerprint} does not verify over the envelope in namespace "
            f"{SIGNATURE_NAMESPACE!r}: {exc}"
        ) from None
    _check_expected(parsed_envelope, expected)
    _check_time(parsed_envelope, now, tolerance)
    if parsed_envelope.nonce in used_nonces:
        raise ReplayedNonce(
            f"envelope nonce {parsed_envelope.nonce} was already used for request "
            f"{parsed_envelope.request_id}: this is a replay; sign a new envelope"
        )
    return Verified(parsed_envelope.actor, fingerprint, parsed_envelope)
