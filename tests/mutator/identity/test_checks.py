"""check_signed(): what the worker does with a submit's or a vote's signature, by mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mutator.identity.checks import (
    NoIdentitySettings,
    SignatureRequired,
    check_signed,
    refusal_message,
    signature_refusal,
)
from mutator.identity.directory import parse_directory
from mutator.identity.envelope import make_envelope
from mutator.identity.registry import IdentityConfig
from mutator.identity.signing import KeyFileSigner, sign_envelope
from mutator.identity.verify import EnvelopeMismatch, MalformedEnvelope, MalformedSignature
from mutator.models import MutationRequest, RequestStatus, SignedProof
from tests.mutator.identity.keys import SshKey

NOW = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
REQUEST = MutationRequest(
    request_id="lim-1",
    state_id="acct-1",
    mutation="limits.set",
    payload={"value": 500},
    requester="dave",
    status=RequestStatus.PENDING,
    base_version=3,
    created_at=NOW,
    updated_at=NOW,
)


@pytest.fixture(scope="module")
def config(alice_key: SshKey) -> IdentityConfig:
    directory = parse_directory({"alice": {"roles": ["sre"], "keys": [alice_key.public_line]}})
    return IdentityConfig("signed", directory, timedelta(minutes=5))


def signed(key: SshKey, comment: str = "ok") -> dict[str, Any]:
    envelope = make_envelope(
        action="approve",
        request_id="lim-1",
        actor="alice",
        state_id="acct-1",
        mutation="limits.set",
        payload={"value": 500},
        base_version=3,
        comment=comment,
        now=NOW,
    )
    return {
        "envelope": envelope.model_dump(mode="json"),
        "signature": sign_envelope(KeyFileSigner(key.private), envelope),
    }


def check(config: IdentityConfig | None, **message: Any) -> SignedProof | None:
    fields = {"actor": "alice", "comment": "ok", "envelope": None, "signature": None, **message}
    return check_signed(config, REQUEST, "approve", now=NOW, **fields)


def test_a_good_signature_gives_the_proof(config: IdentityConfig, alice_key: SshKey) -> None:
    message = signed(alice_key)
    proof = check(config, **message)
    assert proof is not None
    assert proof.envelope == message["envelope"]
    assert proof.fingerprint == alice_key.fingerprint()


def test_claimed_mode_lets_an_unsigned_vote_count_but_checks_a_signed_one(
    config: IdentityConfig, alice_key: SshKey
) -> None:
    claimed = IdentityConfig("claimed", config.directory)
    assert check(claimed) is None
    with pytest.raises(EnvelopeMismatch, match="envelope comment is 'ok' but the request's is"):
        check(claimed, comment="other", **signed(alice_key))


def test_signed_mode_refuses_an_unsigned_vote(config: IdentityConfig) -> None:
    with pytest.raises(SignatureRequired) as refused:
        check(config)
    assert refusal_message(refused.value) == (
        "signature refused (signature_required): identity is signed: approve needs a "
        "signature, e.g. `mutator approve ... --key PATH`"
    )


def test_no_settings_refuse_a_signature(alice_key: SshKey) -> None:
    assert check(None) is None
    with pytest.raises(NoIdentitySettings, match="no identity settings are registered"):
        check(None, **signed(alice_key))


def test_half_a_signature_is_malformed(config: IdentityConfig, alice_key: SshKey) -> None:
    message = signed(alice_key)
    with pytest.raises(MalformedEnvelope, match="a signature was sent without its envelope"):
        check(config, signature=message["signature"])
    with pytest.raises(MalformedSignature, match="an envelope was sent without a signature"):
        check(config, envelope=message["envelope"])


def test_signature_refusal_reports_the_check(config: IdentityConfig, alice_key: SshKey) -> None:
    message = signed(alice_key)
    late = NOW + timedelta(hours=1)
    refusal, proof = signature_refusal(
        config, REQUEST, "approve", actor="alice", comment="ok", now=late, **message
    )
    assert proof is None
    assert refusal is not None
    assert refusal.startswith("signature refused (issued_at_out_of_tolerance): envelope issued_at")
    refusal, proof = signature_refusal(
        config, REQUEST, "approve", actor="alice", comment="ok", now=NOW, **message
    )
    assert (refusal, proof is not None) == (None, True)
