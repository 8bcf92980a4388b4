"""The institution look-up: an HMAC-signed POST to the institution's endpoint, answered with a flat JSON object.

Signature: the same scheme institutions verify on their side as CallVault verifies on its API
(`identity.api_clients`): ``X-CallVault-Key``, ``-Timestamp``, ``-Nonce`` and ``-Signature: v1=base64(HMAC-SHA256(
secret, METHOD\\nPATH\\nQUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))))``.

Anything but a prompt, well-formed answer - too slow, refused, an error status, not JSON, nested values, too
large - is a `LookupFailed` with a reason; the interpreter then takes the flow's fallback branch. Failures are
logged with the reason and the endpoint's host only: never the request or the answer (customer data).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from callvault.identity.api_clients import signed_headers
from callvault.ivr.speech import Scalar

log = structlog.get_logger(__name__)

MAX_ANSWER_BYTES = 16 * 1024
MAX_TEXT_VALUE = 500


@dataclass(frozen=True)
class LookupCredentials:
    """The key the institution gave CallVault for signing its look-ups."""

    key_id: str
    secret: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"LookupCredentials(key_id={self.key_id!r})"


class LookupFailed(Exception):
    """No usable answer; ``reason``: timeout, unreachable, forbidden, status, garbage or too_large."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def encode_body(payload: dict[str, Scalar]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def check_answer(raw: bytes) -> dict[str, Scalar]:
    """A JSON object of scalar values (text at most 500 characters, finite numbers), or LookupFailed."""
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LookupFailed("garbage", "not JSON") from None
    if not isinstance(data, dict):
        raise LookupFailed("garbage", "not a JSON object")
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise LookupFailed("garbage", "a number is not finite")
        if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
            raise LookupFailed("garbage", "a text value is too long")
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise LookupFailed("garbage", f"field {key[:40]!r} is not a scalar")
    return data


class LookupClient:
    """Signs and sends look-ups for one institution. ``in_flight`` counts look-ups on the wire.

    Customer data goes only over HTTPS to public addresses: a flow cannot aim signed requests at CallVault's own
    network (loopback, private, link-local ranges). ``allow_insecure`` lifts both rules, for tests and a local
    demo institution only."""

    def __init__(
        self,
        credentials: LookupCredentials,
        *,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        verify: bool = True,
        allow_insecure: bool = False,
    ) -> None:
        self.credentials = credentials
        self.max_answer_bytes = max_answer_bytes
        self.allow_insecure = allow_insecure
        self.in_flight = 0
        # No redirects: a signed request goes only where the flow says.
        self._http = httpx.AsyncClient(follow_redirects=False, verify=verify, trust_env=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def lookup(self, url: str, payload: dict[str, Scalar], *, limit: float) -> dict[str, Scalar]:
        """POST ``payload``; the answer within ``limit`` seconds in total, or LookupFailed."""
        started = time.monotonic()
        host = urlsplit(url).hostname or ""
        self.in_flight += 1
        try:
            async with asyncio.timeout(limit):
                answer = await self._send(url, payload, limit=limit)
        except TimeoutError:
            failure = LookupFailed("timeout", f"no answer within {limit:g} s")
        except httpx.TimeoutException:
            failure = LookupFailed("timeout", f"no answer within {limit:g} s")
        except httpx.HTTPError as exc:
            failure = LookupFailed("unreachable", type(exc).__name__)
        except LookupFailed as exc:
            failure = exc
        else:
            return answer
        finally:
            self.in_flight -= 1
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.warning("ivr lookup failed", reason=failure.reason, host=host, elapsed_ms=elapsed_ms)
        raise failure

    async def _check_destination(self, url: str) -> None:
        if self.allow_insecure:
            return
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise LookupFailed("forbidden", "look-ups go over HTTPS only")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            )
        except OSError:
            raise LookupFailed("unreachable", "name does not resolve") from None
        # The connection resolves the name again; a name that flips to an inner address between the two is the
        # remaining gap, closed only by an egress proxy or firewall in front of the platform.
        if any(not ipaddress.ip_address(info[4][0]).is_global for info in infos):
            raise LookupFailed("forbidden", "not a public address")

    async def _send(self, url: str, payload: dict[str, Scalar], *, limit: float) -> dict[str, Scalar]:
        await self._check_destination(url)
        body = encode_body(payload)
        parts = urlsplit(url)
        headers = signed_headers(
            key_id=self.credentials.key_id,
            secret=self.credentials.secret,
            method="POST",
            path=parts.path or "/",
            query=parts.query,
            body=body,
        )
        headers["Content-Type"] = "application/json"
        request = self._http.build_request("POST", url, content=body, headers=headers, timeout=limit)
        response = await self._http.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise LookupFailed("status", str(response.status_code))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise LookupFailed("too_large", declared)
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > self.max_answer_bytes:
                    raise LookupFailed("too_large", f"over {self.max_answer_bytes} bytes")
        finally:
            await response.aclose()
        return check_answer(bytes(raw))
