"""`TemporalTLS.load` and the SDK settings: every bad file is refused naming option and file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from temporalio.service import TLSConfig

from mutator.errors import MutatorInputError
from mutator.temporal import temporal_tls_config
from mutator.temporal_tls import TemporalTLS
from tests.helpers.tls_proxy import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_loads_the_files_it_is_given(pki: Pki) -> None:
    material = TemporalTLS(
        ca=pki.ca, cert=pki.client_cert, key=pki.client_key, server_name="temporal.test"
    ).load()
    assert material.ca == pki.ca.read_bytes()
    assert material.cert == pki.client_cert.read_bytes()
    assert material.key == pki.client_key.read_bytes()
    assert material.server_name == "temporal.test"
    assert TemporalTLS().load().ca is None  # system CAs


def test_sdk_settings(pki: Pki) -> None:
    assert temporal_tls_config(False, None) is False
    assert temporal_tls_config(True, None) is True
    # An API key turns TLS on, as the `temporal` CLI does.
    assert temporal_tls_config(False, "key") is True
    config = temporal_tls_config(TemporalTLS(ca=str(pki.ca), server_name="t.example"), None)
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == pki.ca.read_bytes()
    assert config.domain == "t.example"
    assert config.client_cert is None
    with pytest.raises(MutatorInputError, match=r"--api-key \(TEMPORAL_API_KEY\) is empty"):
        temporal_tls_config(False, " ")


def encrypted_key(pki: Pki, tmp_path: Path) -> Path:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    path = tmp_path / "encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


def test_bad_files_are_refused_naming_option_and_file(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not pem\n")
    locked = encrypted_key(pki, tmp_path)
    cases: list[tuple[TemporalTLS, str]] = [
        (
            TemporalTLS(cert=pki.client_cert),
            rf"--tls-cert \(TEMPORAL_TLS_CERT\) is '{pki.client_cert}' but --tls-key "
            r"\(TEMPORAL_TLS_KEY\) is not set",
        ),
        (
            TemporalTLS(key=pki.client_key),
            rf"--tls-key \(TEMPORAL_TLS_KEY\) is '{pki.client_key}' but --tls-cert",
        ),
        (
            TemporalTLS(ca=tmp_path / "nope.pem"),
            rf"--tls-ca \(TEMPORAL_TLS_CA\): cannot read '{tmp_path}/nope.pem': No such file",
        ),
        (TemporalTLS(ca=tmp_path), rf"--tls-ca \(TEMPORAL_TLS_CA\): cannot read '{tmp_path}'"),
        (TemporalTLS(ca=""), r"--tls-ca \(TEMPORAL_TLS_CA\) is empty"),
        (TemporalTLS(ca=garbage), rf"--tls-ca \(TEMPORAL_TLS_CA\): '{garbage}' holds no PEM"),
        (
            TemporalTLS(cert=garbage, key=pki.client_key),
            rf"--tls-cert \(TEMPORAL_TLS_CERT\): '{garbage}' holds no PEM certificate",
        ),
        (
            TemporalTLS(cert=pki.client_cert, key=garbage),
            rf"--tls-key \(TEMPORAL_TLS_KEY\): '{garbage}' is not a PEM private key",
        ),
        (
            TemporalTLS(cert=pki.client_cert, key=pki.client_cert),
            r"--tls-key \(TEMPORAL_TLS_KEY\): .* is not a PEM private key",
        ),
        (
            TemporalTLS(cert=pki.client_cert, key=locked),
            rf"--tls-key \(TEMPORAL_TLS_KEY\): '{locked}' is encrypted",
        ),
        (
            TemporalTLS(cert=pki.client_cert, key=pki.other_client_key),
            rf"--tls-key \(TEMPORAL_TLS_KEY\): '{pki.other_client_key}' is not the private "
            rf"key of the certificate in --tls-cert \(TEMPORAL_TLS_CERT\) '{pki.client_cert}'",
        ),
        (TemporalTLS(server_name=" "), r"--tls-server-name \(TEMPORAL_TLS_SERVER_NAME\) is empty"),
    ]
    for tls, message in cases:
        with pytest.raises(MutatorInputError, match=message) as caught:
            tls.load()
        assert caught.value.exit_code == 2
