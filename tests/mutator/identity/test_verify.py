"""verify(): one specific refusal per failed check, each with a message saying why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mutator.errors import MutatorRefused
from mutator.identity.directory import Directory, parse_directory
from mutator.identity.envelope import Envelope, make_envelope, payload_sha256
from mutator.identity.signing import KeyFileSigner
from mutator.identity.verify import (
    DEFAULT_TOLERANCE,
    BadSignature,
    EnvelopeMismatch,
    Expected,
    IssuedAtOutOfTolerance,
    KeyOfAnotherUser,
    MalformedEnvelope,
    MalformedSignature,
    ReplayedNonce,
    SignatureRefused,
    UnknownActor,
    UnknownKey,
    verify,
)
from tests.mutator.identity.keys import SshKey, ssh_keygen_sign

NOW = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
PAYLOAD = {"name": "daily", "value": 500}


@pytest.fixture(scope="module")
def directory(alice_key: SshKey, bob_key: SshKey) -> Directory:
    return parse_directory(
        {
            "alice": {"roles": ["sre"], "keys": [alice_key.public_line]},
            "bob": {"roles": ["sre"], "keys": [bob_key.public_line]},
            "carol": ["finance"],
        }
    )


def envelope(**change: Any) -> Envelope:
    fields: dict[str, Any] = {
        "action": "approve",
        "request_id": "lim-1",
        "actor": "alice",
        "state_id": "acct-1",
        "mutation": "limits.set",
        "payload": PAYLOAD,
        "base_version": 3,
        "comment": "ok",
        "now": NOW,
    }
    return make_envelope(**{**fields, **change})


EXPECTED = Expected("approve", "lim-1", "acct-1", "limits.set", payload_sha256(PAYLOAD), 3)


def signed(key: SshKey, env: Envelope) -> str:
    return KeyFileSigner(key.private).sign(env.signed_bytes())


def refusal(kind: type[SignatureRefused], *args: Any, **kwargs: Any) -> str:
    kwargs.setdefault("expected", EXPECTED)
    kwargs.setdefault("now", NOW)
    with pytest.raises(kind) as caught:
        verify(*args, **kwargs)
    assert isinstance(caught.value, MutatorRefused)  # the CLI exits 1
    assert type(caught.value) is kind
    return str(caught.value)


def test_a_good_signature(alice_key: SshKey, directory: Directory) -> None:
    env = envelope()
    verified = verify(
        env.model_dump_json(), signed(alice_key, env), directory, expected=EXPECTED, now=NOW
    )
    assert verified.actor == "alice"
    assert verified.fingerprint == alice_key.fingerprint()
    assert verified.envelope == env


def test_unknown_actor(alice_key: SshKey, directory: Directory) -> None:
    env = envelope(actor="mallory")
    message = refusal(UnknownActor, env, signed(alice_key, env), directory)
    assert message == "actor 'mallory' is not in the directory"


def test_unknown_key(stranger_key: SshKey, directory: Directory) -> None:
    env = envelope()
    message = refusal(UnknownKey, env, signed(stranger_key, env), directory)
    assert message == (
        f"signing key {stranger_key.fingerprint()} belongs to no user of the directory"
    )


def test_a_user_without_keys(alice_key: SshKey, directory: Directory) -> None:
    env = envelope(actor="carol")
    message = refusal(KeyOfAnotherUser, env, signed(alice_key, env), directory)
    assert "belongs to 'alice', not to actor 'carol'" in message


def test_key_of_another_user(bob_key: SshKey, directory: Directory) -> None:
    env = envelope()  # alice's envelope, signed by bob
    message = refusal(KeyOfAnotherUser, env, signed(bob_key, env), directory)
    assert message == f"signing key {bob_key.fingerprint()} belongs to 'bob', not to actor 'alice'"


def test_tampered_envelope(alice_key: SshKey, directory: Directory) -> None:
    signature = signed(alice_key, envelope(nonce="a" * 32))
    tampered = envelope(nonce="a" * 32, comment="approved by the board")
    message = refusal(BadSignature, tampered, signature, directory)
    assert message.startswith(
        f"signature by {alice_key.fingerprint()} does not verify over the envelope"
    )


def test_another_namespace(alice_key: SshKey, directory: Directory) -> None:
    env = envelope()
    signature = ssh_keygen_sign(alice_key.private, env.signed_bytes(), namespace="git")
    assert "namespace" in refusal(BadSignature, env, signature, directory).lower()


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not a signature",
        "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
        "x" * 5000,
    ],
)
def test_malformed_signature(signature: str, directory: Directory) -> None:
    message = refusal(MalformedSignature, envelope(), signature, directory)
    assert message.startswith("malformed signature: ")


def test_a_signature_with_a_truncated_key(alice_key: SshKey, directory: Directory) -> None:
    import base64

    env = envelope()
    armored = signed(alice_key, env).splitlines()
    blob = base64.b64decode("".join(armored[1:-1]))
    cut = blob[:14] + b"\x00\x00\x00\x05" + blob[18:23]  # a 5-byte "public key"
    broken = "\n".join([armored[0], base64.b64encode(cut).decode(), armored[-1]])
    assert refusal(MalformedSignature, env, broken, directory).startswith("malformed signature")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("{", "envelope"),
        ("[]", "envelope"),
        ('{"action": "approve"}', "request_id: Field required"),
        ({"action": "approve"}, "nonce: Field required"),
        (b"\xff", "envelope"),
    ],
)
def test_malformed_envelope(data: Any, field: str, alice_key: SshKey, directory: Directory) -> None:
    message = refusal(MalformedEnvelope, data, signed(alice_key, envelope()), directory)
    assert message.startswith("malformed envelope: ")
    assert field in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "reject"}, "action"),
        ({"request_id": "lim-2"}, "request_id"),
        ({"state_id": "acct-2"}, "state_id"),
        ({"mutation": "limits.raise"}, "mutation"),
        ({"payload": {"name": "daily", "value": 5000}}, "payload_sha256"),
        ({"base_version": 2}, "base_version"),
        ({"base_version": None}, "base_version"),
    ],
)
def test_an_envelope_for_something_else(
    change: dict[str, Any], field: str, alice_key: SshKey, directory: Directory
) -> None:
    env = envelope(**change)
    message = refusal(EnvelopeMismatch, env, signed(alice_key, env), directory)
    assert message.startswith(f"envelope {field} is ")
    assert "sign again against the request as it stands" in message


def test_an_envelope_for_another_actor_than_claimed(
    alice_key: SshKey, directory: Directory
) -> None:
    env = envelope()
    expected = Expected(**{**EXPECTED.__dict__, "actor": "bob"})
    message = refusal(EnvelopeMismatch, env, signed(alice_key, env), directory, expected=expected)
    assert message == (
        "envelope actor is 'alice' but the request's is 'bob': the signature is for something "
        "else; sign again against the request as it stands"
    )


def test_issued_at_tolerance(alice_key: SshKey, directory: Directory) -> None:
    assert timedelta(minutes=5) == DEFAULT_TOLERANCE
    env = envelope()
    signature = signed(alice_key, env)
    for moment in (NOW - DEFAULT_TOLERANCE, NOW + DEFAULT_TOLERANCE):
        assert verify(env, signature, directory, expected=EXPECTED, now=moment)
    late = refusal(
        IssuedAtOutOfTolerance, env, signature, directory, now=NOW + timedelta(minutes=5, seconds=1)
    )
    assert late == (
        "envelope issued_at 2026-11-30T19:00:00Z is 0:05:01 ago, beyond the tolerance of "
        "0:05:00: sign again"
    )
    early = refusal(IssuedAtOutOfTolerance, env, signature, directory, now=NOW - timedelta(hours=1))
    assert "1:00:00 in the future" in early
    wider = timedelta(hours=2)
    assert verify(env, signature, directory, expected=EXPECTED, now=NOW - wider, tolerance=wider)


def test_a_replayed_nonce(alice_key: SshKey, directory: Directory) -> None:
    env = envelope()
    signature = signed(alice_key, env)
    used = {"b" * 32}
    assert verify(env, signature, directory, expected=EXPECTED, now=NOW, used_nonces=used)
    used.add(env.nonce)
    message = refusal(ReplayedNonce, env, signature, directory, used_nonces=used)
    assert message == (
        f"envelope nonce {env.nonce} was already used for request lim-1: this is a replay; "
        "sign a new envelope"
    )


def test_signature_is_checked_before_the_bindings(bob_key: SshKey, directory: Directory) -> None:
    # A forged envelope for another request is refused for its key, not for its content.
    env = envelope(request_id="lim-9")
    refusal(KeyOfAnotherUser, env, signed(bob_key, env), directory)


def test_a_naive_now_is_a_programming_error(alice_key: SshKey, directory: Directory) -> None:
    env = envelope()
    with pytest.raises(ValueError, match="aware datetime"):
        verify(env, signed(alice_key, env), directory, expected=EXPECTED, now=datetime(2026, 1, 1))
