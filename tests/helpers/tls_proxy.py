"""A real TLS endpoint in front of a plain Temporal dev server, and the certificates for it.

`temporal server start-dev` has no TLS options, so `TLSProxy` terminates TLS (ALPN ``h2``,
client certificates signed by the test CA required, or not) and forwards the bytes to the
dev server's plain port. Because it terminates TLS it sees the client's HTTP/2 frames: it
decodes the request headers with HPACK (`hpack`, the python-hyper decoder) and records
every ``authorization`` value, so a test can check that an API key really reached the
server side. It forwards the bytes unchanged and never rejects on headers.

`make_pki` writes a CA, a server certificate for 127.0.0.1 / localhost / temporal.test,
a client certificate signed by the CA, and another CA with its own client certificate
(the "wrong CA" cases), with `cryptography`.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import hpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, CONTINUATION = 0x1, 0x9
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20


@dataclass(frozen=True)
class Pki:
    """PEM files: ``ca``, ``server_*``, ``client_*`` (signed by ``ca``), ``other_*``."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    """A fresh CA, server and client certificates, and a second CA, under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = {
        name: ec.generate_private_key(ec.SECP256R1())
        for name in ("ca", "srv", "cli", "oca", "ocli")
    }
    ca = _issue("Mutator test CA", keys["ca"], None, ca=True)
    other_ca = _issue("Another CA", keys["oca"], None, ca=True)
    server = _issue(
        "temporal.test",
        keys["srv"],
        (ca.subject, keys["ca"]),
        sans=[
            x509.DNSName("temporal.test"),
            x509.DNSName("localhost"),
            x509.IPAddress(IPv4Address("127.0.0.1")),
        ],
    )
    client = _issue("mutator-worker", keys["cli"], (ca.subject, keys["ca"]))
    other_client = _issue("intruder", keys["ocli"], (other_ca.subject, keys["oca"]))
    ca_path, _ = _write(directory, "ca", ca, keys["ca"])
    other_ca_path, _ = _write(directory, "other-ca", other_ca, keys["oca"])
    server_cert, server_key = _write(directory, "server", server, keys["srv"])
    client_cert, client_key = _write(directory, "client", client, keys["cli"])
    other_cert, other_key = _write(directory, "other-client", other_client, keys["ocli"])
    return Pki(
        ca=ca_path,
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
        other_ca=other_ca_path,
        other_client_cert=other_cert,
        other_client_key=other_key,
    )


class HeaderSniffer:
    """Decodes the HTTP/2 request headers of one client-to-server byte stream."""

    def __init__(self, record: list[str]) -> None:
        self.buffer = b""
        self.preface_seen = False
        self.decoder = hpack.Decoder()
        self.block = b""
        self.record = record

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if not self.preface_seen:
            if len(self.buffer) < len(PREFACE):
                return
            assert self.buffer.startswith(PREFACE), "not HTTP/2 with prior knowledge"
            self.buffer = self.buffer[len(PREFACE) :]
            self.preface_seen = True
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind, flags = self.buffer[3], self.buffer[4]
            payload = self.buffer[9 : 9 + length]
            self.buffer = self.buffer[9 + length :]
            if kind == HEADERS:
                self.block = self._fragment(payload, flags)
            elif kind == CONTINUATION:
                self.block += payload
            else:
                continue
            if flags & END_HEADERS:
                for name, value in self.decoder.decode(self.block, raw=True):
                    if name == b"authorization":
                        self.record.append(value.decode())
                self.block = b""

    @staticmethod
    def _fragment(payload: bytes, flags: int) -> bytes:
        start, end = 0, len(payload)
        if flags & PADDED:
            start, end = 1, len(payload) - payload[0]
        if flags & PRIORITY:
            start += 5
        return payload[start:end]


@dataclass
class TLSProxy:
    """TLS on ``127.0.0.1:<port>`` forwarding to ``upstream`` (a plain Temporal frontend)."""

    upstream: str
    pki: Pki
    require_client_cert: bool = True
    port: int = 0
    authorizations: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.set_alpn_protocols(["h2"])
        context.load_verify_locations(self.pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_NONE
        return context

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sniffer: HeaderSniffer | None,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if sniffer is not None:
                    sniffer.feed(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.upstream.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        sniffer = HeaderSniffer(self.authorizations)
        await asyncio.gather(
            self._pipe(reader, up_writer, sniffer), self._pipe(up_reader, writer, None)
        )

    async def _serve(self, started: Future[int]) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._context())
        started.set_result(self._server.sockets[0].getsockname()[1])

    def start(self) -> TLSProxy:
        """Serve in a background thread (its own event loop) until `stop`."""
        loop = asyncio.new_event_loop()
        # A refused handshake (wrong CA, no client certificate) is what some tests want.
        loop.set_exception_handler(lambda _loop, _context: None)
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tls-proxy", daemon=True)
        self._thread.start()
        started: Future[int] = Future()
        asyncio.run_coroutine_threadsafe(self._serve(started), loop)
        self.port = started.result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None
