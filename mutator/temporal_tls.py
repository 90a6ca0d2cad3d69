"""How to reach a Temporal server that wants TLS, mutual TLS or an API key.

`TemporalTLS` names the files (server CA, client certificate and key) and `load` reads and
checks them before any connection is tried, so a missing file, a certificate without its
key or a key that does not match its certificate is bad input naming the option and the
file, not a handshake error later. The SDK's ``TLSConfig`` is built from the result in
mutator/temporal.py (this module is domain: it imports no Temporal SDK).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mutator.errors import MutatorInputError

__all__ = ["TLSMaterial", "TemporalTLS"]

# Each option's flag and environment variables, for the messages (docs/cli.md).
CA_OPTION = "--tls-ca (TEMPORAL_TLS_CA)"
CERT_OPTION = "--tls-cert (TEMPORAL_TLS_CERT)"
KEY_OPTION = "--tls-key (TEMPORAL_TLS_KEY)"


@dataclass(frozen=True)
class TLSMaterial:
    """The checked contents of a `TemporalTLS`'s files, as the SDK takes them."""

    ca: bytes | None
    cert: bytes | None
    key: bytes | None
    server_name: str | None


@dataclass(frozen=True)
class TemporalTLS:
    """TLS to Temporal: whom to trust, and the client certificate for mutual TLS.

    Every field is optional: ``TemporalTLS()`` is TLS verified against the system's roots
    (Temporal Cloud with an API key needs no more).

    Attributes:
        ca: PEM file of the CA(s) that signed the server's certificate, for a private CA;
            by default the system's roots.
        cert: PEM file of the client certificate (mutual TLS); needs ``key``.
        key: PEM file of the client certificate's private key (unencrypted); needs ``cert``.
        server_name: The name to expect in the server's certificate (and to send as SNI)
            when it differs from the address's host.
    """

    ca: str | Path | None = None
    cert: str | Path | None = None
    key: str | Path | None = None
    server_name: str | None = None

    def load(self) -> TLSMaterial:
        """Read and check the files.

        Returns:
            Their contents.

        Raises:
            MutatorInputError: A file cannot be read or is not what its option needs, a
                certificate comes without its key (or a key without its certificate), or the
                key does not belong to the certificate. The message names the option and
                the file.
        """
        if (self.cert is None) != (self.key is None):
            given, missing = (
                (CERT_OPTION, KEY_OPTION) if self.cert is not None else (KEY_OPTION, CERT_OPTION)
            )
            path = self.cert if self.cert is not None else self.key
            raise MutatorInputError(
                f"{given} is {str(path)!r} but {missing} is not set: mutual TLS needs both "
                "the client certificate and its private key"
            )
        if self.server_name is not None and not self.server_name.strip():
            raise MutatorInputError("--tls-server-name (TEMPORAL_TLS_SERVER_NAME) is empty")
        ca = _read(CA_OPTION, self.ca)
        if ca is not None:
            _certificates(CA_OPTION, self.ca, ca)
        cert = _read(CERT_OPTION, self.cert)
        key = _read(KEY_OPTION, self.key)
        if cert is not None and key is not None:
            _check_pair(self, cert, key)
        return TLSMaterial(ca=ca, cert=cert, key=key, server_name=self.server_name)


def _read(option: str, path: str | Path | None) -> bytes | None:
    if path is None:
        return None
    if not str(path).strip():
        raise MutatorInputError(f"{option} is empty: give the path of a PEM file")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MutatorInputError(
            f"{option}: cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None


def _certificates(option: str, path: str | Path | None, data: bytes) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise MutatorInputError(
            f"{option}: {str(path)!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )
    return found


def _private_key(path: str | Path | None, data: bytes) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise MutatorInputError(
            f"{KEY_OPTION}: {str(path)!r} is encrypted; the Temporal SDK needs an unencrypted "
            "PEM private key (decrypt it, e.g. `openssl pkey -in KEY -out KEY.plain`, and "
            "protect the file's permissions instead)"
        ) from None
    except (ValueError, AssertionError):
        raise MutatorInputError(
            f"{KEY_OPTION}: {str(path)!r} is not a PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None


def _check_pair(tls: TemporalTLS, cert: bytes, key: bytes) -> None:
    leaf = _certificates(CERT_OPTION, tls.cert, cert)[0]
    private = _private_key(tls.key, key)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if private.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise MutatorInputError(
            f"{KEY_OPTION}: {str(tls.key)!r} is not the private key of the certificate in "
            f"{CERT_OPTION} {str(tls.cert)!r}"
        )
