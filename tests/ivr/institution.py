"""A real HTTP server playing an institution's look-up endpoint, started by the test on 127.0.0.1.

It checks the HMAC signature independently of CallVault's code (a shared secret, the documented canonical
request) and answers by path: ``/balance`` (correct), ``/slow`` (after ``delay`` seconds), ``/error`` (500),
``/garbage`` (not JSON), ``/nested`` (an object inside), ``/huge`` (64 KiB), ``/redirect`` (302 to /balance).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

KEY_ID = "cv-lookup-test"
SECRET = "institution-shared-secret-0123456789"


@dataclass
class Seen:
    path: str
    signature_ok: bool
    body: dict[str, Any]


@dataclass
class Institution:
    url: str
    delay: float = 5.0
    answer: dict[str, Any] = field(default_factory=lambda: {"balance": "1234.50", "tier": "vip", "name": "Z"})
    seen: list[Seen] = field(default_factory=list)


def _signature_ok(handler: BaseHTTPRequestHandler, body: bytes, key_id: str, secret: str) -> bool:
    h = handler.headers
    parts = urlsplit(handler.path)
    canonical = "\n".join(
        [
            "POST",
            parts.path,
            parts.query,
            h.get("X-CallVault-Timestamp", ""),
            h.get("X-CallVault-Nonce", ""),
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()
    expected = "v1=" + base64.b64encode(hmac.new(secret.encode(), canonical, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(h.get("X-CallVault-Timestamp", "0") or 0)) < 300
    return (
        fresh
        and h.get("X-CallVault-Key") == key_id
        and hmac.compare_digest(expected, h.get("X-CallVault-Signature", ""))
    )


@contextmanager
def institution_server(*, key_id: str = KEY_ID, secret: str = SECRET) -> Iterator[Institution]:
    state = Institution(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = urlsplit(self.path).path
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = {}
            state.seen.append(Seen(path, _signature_ok(self, body, key_id, secret), decoded))
            if not state.seen[-1].signature_ok:
                self._send(401, b'{"error":"bad signature"}')
            elif path == "/balance":
                self._send(200, json.dumps(state.answer).encode())
            elif path == "/slow":
                time.sleep(state.delay)
                self._send(200, json.dumps(state.answer).encode())
            elif path == "/error":
                self._send(500, b'{"error":"core banking down"}')
            elif path == "/garbage":
                self._send(200, b"<html>maintenance</html>", "text/html")
            elif path == "/nested":
                self._send(200, b'{"balance": {"amount": 1}}')
            elif path == "/huge":
                self._send(200, json.dumps({"balance": "1", "pad": ["x" * 1000] * 64}).encode())
            elif path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/balance")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, b"{}")

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up on /slow closes the socket first: expected here

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
