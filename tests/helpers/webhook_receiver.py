"""A real local HTTP receiver of webhooks that verifies each with ``standardwebhooks``."""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def new_secret() -> str:
    """A fresh Standard Webhooks secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def closed_port_url() -> str:
    """A URL on a local port nothing listens on: a receiver that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


@dataclass
class Received:
    """One POST that arrived: its headers, and its body if the signature verified."""

    headers: dict[str, str]
    body: dict[str, Any] | None  # None: the signature did not verify
    answered: int


@dataclass
class Receiver:
    """What the receiver got; ``fail_first`` answers 503 to that many first attempts."""

    secret: str
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The verified events that were answered 2xx (of type ``kind``)."""
        with self.lock:
            return [
                r.body
                for r in self.received
                if r.body is not None
                and r.answered < 300
                and (kind is None or r.body["type"] == kind)
            ]

    def answer(self, headers: dict[str, str], raw: bytes) -> int:
        """Verify, remember, and say which status to answer."""
        try:
            body = Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            body = None
        with self.lock:
            status = 401 if body is None else (503 if len(self.received) < self.fail_first else 200)
            self.received.append(Received(headers=headers, body=body, answered=status))
        return status


@contextmanager
def running_receiver(secret: str, *, fail_first: int = 0) -> Iterator[Receiver]:
    """A receiver on a free local port, for the block."""
    receiver = Receiver(secret=secret, fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, raw)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"status": status}).encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
