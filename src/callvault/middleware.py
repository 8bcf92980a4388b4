"""ASGI middleware: request id and log context, body size limit, security headers, HTTP metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

HTTP_REQUESTS = Counter("callvault_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("callvault_http_request_seconds", "HTTP request latency", ["method", "route"])

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
]

_PROBLEM_413 = (
    b'{"type":"urn:callvault:problem:body-too-large","title":"Body too large","status":413,'
    b'"detail":"the request body exceeds the limit","instance":"","request_id":"","errors":[]}'
)


class BodyTooLarge(Exception):
    pass


class PlatformMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        hsts: bool,
        upload_paths: re.Pattern[str] | None = None,
        max_upload_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hsts = hsts
        # POSTs to these paths are file uploads that the route streams to disk: they get the upload limit.
        self.upload_paths = upload_paths
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> int:
        if self.upload_paths is not None and scope["method"] == "POST" and self.upload_paths.fullmatch(scope["path"]):
            return max(self.max_upload_bytes, self.max_body_bytes)
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        limit = self._limit(scope)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject_413(send, request_id)
            self._observe(scope, 413, started)
            return

        received = 0
        exceeded = replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if exceeded and message["type"] == "http.response.start":
                # The framework turned our exception into its own error; answer what really happened.
                replaced = True
                status_holder["status"] = 413
                await self._reject_413(send, request_id)
                return
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                hdrs = list(message.get("headers", []))
                hdrs.append((b"x-request-id", request_id.encode()))
                hdrs.extend(SECURITY_HEADERS)
                if not any(k.lower() == b"cache-control" for k, _ in hdrs):
                    # Responses may carry customer data: never store them in browser or proxy caches.
                    hdrs.append((b"cache-control", b"no-store"))
                if self.hsts:
                    hdrs.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = hdrs
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if not replaced:
                await self._reject_413(send, request_id)
            status_holder["status"] = 413
        finally:
            self._observe(scope, status_holder["status"], started)

    @staticmethod
    async def _reject_413(send: Send, request_id: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"x-request-id", request_id.encode()),
                    (b"content-length", str(len(_PROBLEM_413)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _PROBLEM_413})

    @staticmethod
    def _observe(scope: Scope, status: int, started: float) -> None:
        route: Any = scope.get("route")
        label = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(scope["method"], label, str(status)).inc()
        HTTP_LATENCY.labels(scope["method"], label).observe(time.perf_counter() - started)
