"""Whether a submit or a vote proves its actor, under a worker's identity settings.

One pure function serves every place that checks: the request workflow's update validators
(with the workflow's time), the ``mutator.verify_vote`` activity behind signals and the
evaluation activity behind a submit (with the real clock). Nothing here reads a clock or
the registry: the caller passes both in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mutator.identity.envelope import Action
from mutator.identity.registry import IdentityConfig
from mutator.identity.requests import expected_for, proof_of, used_nonces
from mutator.identity.verify import (
    MalformedEnvelope,
    MalformedSignature,
    SignatureRefused,
    verify,
)
from mutator.models import MutationRequest, SignedProof


class SignatureRequired(SignatureRefused):
    """``identity="signed"``: the submit or vote carries no signature."""

    code = "signature_required"


class NoIdentitySettings(SignatureRefused):
    """A signed message reached a worker with no identity settings for its task queue."""

    code = "no_identity_settings"


def refusal_message(exc: SignatureRefused) -> str:
    """How a refused signature is reported: its check's code, then why."""
    return f"signature refused ({exc.code}): {exc}"


def check_signed(
    config: IdentityConfig | None,
    request: MutationRequest,
    action: Action,
    *,
    actor: str,
    comment: str,
    envelope: Mapping[str, Any] | None,
    signature: str | None,
    now: datetime,
) -> SignedProof | None:
    """Check the signature a submit or a vote carries, if any, against the request as it stands.

    A signature, when there is one, is always verified (``mutator.identity.verify``): the
    actor's key, the signature, the action, request, state, mutation, payload hash, base
    version, the actor and comment sent alongside, ``issued_at`` within the tolerance, and a
    nonce no decision of the request used. Without one, ``signed`` mode refuses and
    ``claimed`` mode lets the typed name count.

    Args:
        config: The worker's identity settings; None when none is registered, which refuses
            any signature (it cannot be checked: fail closed).
        request: The request as it stands.
        action: ``submit``, ``approve``, ``reject`` or ``cancel``.
        actor: The actor the message names (a submit's requester).
        comment: The comment or reason it sends (a submit's reason).
        envelope: The signed envelope it carries, if any.
        signature: The armored SSHSIG signature it carries, if any.
        now: The time to check ``issued_at`` against (aware).

    Returns:
        The proof to record on the decision; None for an unsigned message in claimed mode.

    Raises:
        SignatureRefused: A subclass naming the failed check (``.code``), with why.
    """
    if envelope is None and signature is None:
        if config is not None and config.mode == "signed":
            raise SignatureRequired(
                f"identity is signed: {action} needs a signature, e.g. "
                f"`mutator {action} ... --key PATH`"
            )
        return None
    if config is None:
        raise NoIdentitySettings(
            "no identity settings are registered for this task queue in the worker, so the "
            "signature cannot be checked; run the worker with `mutator worker`, or build it "
            "with mutator.workers.build_workers"
        )
    if envelope is None:
        raise MalformedEnvelope("malformed envelope: a signature was sent without its envelope")
    if signature is None:
        raise MalformedSignature("malformed signature: an envelope was sent without a signature")
    verify(
        envelope,
        signature,
        config.directory,
        expected=expected_for(request, action, actor=actor, comment=comment),
        now=now,
        tolerance=config.tolerance,
        used_nonces=used_nonces(request),
    )
    return proof_of(envelope, signature)


def signature_refusal(
    config: IdentityConfig | None,
    request: MutationRequest,
    action: Action,
    *,
    actor: str,
    comment: str,
    envelope: Mapping[str, Any] | None,
    signature: str | None,
    now: datetime,
) -> tuple[str | None, SignedProof | None]:
    """``check_signed``, its refusal as a message: ``(refusal, None)`` or ``(None, proof)``."""
    try:
        proof = check_signed(
            config,
            request,
            action,
            actor=actor,
            comment=comment,
            envelope=envelope,
            signature=signature,
            now=now,
        )
    except SignatureRefused as exc:
        return refusal_message(exc), None
    return None, proof


__all__ = [
    "NoIdentitySettings",
    "SignatureRequired",
    "check_signed",
    "refusal_message",
    "signature_refusal",
]
