"""Sends due webhook deliveries and records each attempt, so a crash never loses a message.

Each delivery is claimed in its own short transaction before it is sent (its next attempt moved past the send
timeout): a sender that dies mid-send leaves it to be sent again after that hold, under the same webhook-id.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import structlog

from callvault.core import clock
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.tenancy import service as tenancy
from callvault.webhooks import service, signing
from callvault.webhooks.models import WebhookDelivery
from callvault.webhooks.retry import DEFAULT_POLICY, RetryPolicy

log = structlog.get_logger(__name__)


class Undeliverable(Exception):
    """This attempt failed; ``reason`` is short and holds no body or customer data."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


@dataclass
class Attempt:
    ok: bool
    reason: str = ""
    status_code: int | None = None


@dataclass
class Dispatcher:
    """Delivers webhooks of every tenant. ``allow_private`` lets URLs reach loopback and private addresses (tests,
    a local demo institution); otherwise only public addresses are called, as for IVR look-ups. ``verify`` is
    httpx's TLS verification (True, or a CA bundle path / SSL context for an institution's private CA)."""

    db: Database
    policy: RetryPolicy = DEFAULT_POLICY
    timeout: float = 10.0
    batch: int = 100
    allow_private: bool = False
    verify: ssl.SSLContext | str | bool = True
    rng: random.Random = field(default_factory=random.Random)
    tenants: list[uuid.UUID] | None = None  # only these institutions (None: all)

    async def deliver_due(self) -> int:
        """Send every delivery due now (one pass); returns how many were attempted."""
        attempted = 0
        async with httpx.AsyncClient(
            follow_redirects=False,
            verify=self.verify,
            trust_env=False,
            timeout=self.timeout,
        ) as http:
            for tenant_id in self._tenants():
                while True:
                    claimed = self._claim(tenant_id)
                    if not claimed:
                        break
                    results = await asyncio.gather(*(self._attempt(http, tenant_id, d) for d in claimed))
                    attempted += len(results)
                    if len(claimed) < self.batch:
                        break
        return attempted

    def _tenants(self) -> list[uuid.UUID]:
        if self.tenants is not None:
            return list(self.tenants)
        with self.db.scoped() as session:
            return tenancy.all_tenant_ids(session)

    def _claim(self, tenant_id: uuid.UUID) -> list[uuid.UUID]:
        with self.db.scoped() as session:
            set_tenant(session, tenant_id)
            hold = timedelta(seconds=self.timeout + 60)
            return service.claim_due(session, limit=self.batch, hold=hold)

    async def _attempt(self, http: httpx.AsyncClient, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> Attempt:
        with self.db.scoped() as session:
            set_tenant(session, tenant_id)
            row = session.get(WebhookDelivery, delivery_id)
            if row is None or row.status != service.PENDING:
                return Attempt(ok=False, reason="gone")
            secret = service.secret_for(session, api_client_id=row.api_client_id)
            body = service.body_of(session, row)
            url, msg_id = row.url, service.webhook_id(row.id)
        try:
            if secret is None:
                raise Undeliverable("no signing secret")
            await self._check_destination(url)
            now = int(clock.now().timestamp())
            response = await http.post(
                url, content=body, headers=signing.headers(secret, msg_id=msg_id, timestamp=now, body=body)
            )
            if not 200 <= response.status_code < 300:
                raise Undeliverable(f"status {response.status_code}", response.status_code)
            attempt = Attempt(ok=True, status_code=response.status_code)
        except Undeliverable as exc:
            attempt = Attempt(ok=False, reason=exc.reason, status_code=exc.status_code)
        except httpx.TimeoutException:
            attempt = Attempt(ok=False, reason="timeout")
        except httpx.HTTPError as exc:
            attempt = Attempt(ok=False, reason=f"unreachable: {type(exc).__name__}")
        self._record(tenant_id, delivery_id, attempt)
        return attempt

    def _record(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID, attempt: Attempt) -> None:
        with self.db.scoped() as session:
            set_tenant(session, tenant_id)
            row = session.get(WebhookDelivery, delivery_id)
            if row is None or row.status != service.PENDING:
                return
            now = clock.now()
            row.attempts += 1
            row.last_attempt_at, row.last_status_code, row.last_error = now, attempt.status_code, attempt.reason[:200]
            if attempt.ok:
                row.status, row.delivered_at = service.DELIVERED, now
            else:
                delay = self.policy.delay_after(row.attempts, self.rng)
                if delay is None:
                    row.status, row.dead_at = service.DEAD, now
                else:
                    row.next_attempt_at = now + timedelta(seconds=delay)
            host = urlsplit(row.url).hostname or ""
            log.info(
                "webhook attempt",
                delivery=str(row.id),
                host=host,
                ok=attempt.ok,
                status=row.status,
                attempts=row.attempts,
                reason=attempt.reason,
            )
            session.commit()

    async def _check_destination(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise Undeliverable("not https")
        if self.allow_private:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            )
        except OSError:
            raise Undeliverable("name does not resolve") from None
        if any(not ipaddress.ip_address(info[4][0]).is_global for info in infos):
            raise Undeliverable("not a public address")
