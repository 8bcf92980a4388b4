"""API clients of an institution's IT and verification of their HMAC-signed requests.

Signature (documented for institutions in docs/api-signing.md)::

    canonical = METHOD \\n PATH \\n SORTED_QUERY \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))
    X-CallVault-Signature: v1=base64(HMAC-SHA256(secret, canonical))

with headers X-CallVault-Key, X-CallVault-Timestamp (Unix seconds, within ±300 s) and X-CallVault-Nonce
(single use). Two signatures may be sent space-separated while a secret is being rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from datetime import timedelta
from typing import cast
from urllib.parse import parse_qsl, quote

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.config import get_settings
from callvault.core import clock, outbox, secretbox
from callvault.core.errors import NotFound, PermissionDenied, Unauthenticated
from callvault.core.pagination import paginate
from callvault.core.schemas import Page
from callvault.core.tenant_context import set_tenant
from callvault.identity.models import ApiClient, ApiNonce
from callvault.identity.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead
from callvault.identity.service import _check_permissions, _no_escalation
from callvault.security import audit
from callvault.security.principal import Principal
from callvault.tenancy import service as tenancy
from callvault.tenancy.models import Tenant, TenantStatus

_NONCES = cast(Table, ApiNonce.__table__)
_CLIENTS = cast(Table, ApiClient.__table__)
KEY_RE = re.compile(r"^cvk\.([a-z][a-z0-9-]{1,39})\.([0-9a-f]{16})$")
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class BadSignature(Unauthenticated):
    code = "bad-signature"
    title = "Request signature rejected"


def canonical_request(
    method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes, *, body_sha256: str | None = None
) -> bytes:
    """The signed string; `body_sha256` stands in for `body` when the body was streamed to disk (uploads)."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    sorted_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    digest = body_sha256 or hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, sorted_query, timestamp, nonce, digest]).encode()


def sign(secret: str, canonical: bytes) -> str:
    return "v1=" + base64.b64encode(hmac.new(secret.encode(), canonical, hashlib.sha256).digest()).decode()


def signed_headers(
    *,
    key_id: str,
    secret: str,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Client-side helper (also used by the institution SDK example and the tests)."""
    ts = str(int(clock.now().timestamp()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    return {
        "X-CallVault-Key": key_id,
        "X-CallVault-Timestamp": ts,
        "X-CallVault-Nonce": nonce,
        "X-CallVault-Signature": sign(secret, canonical_request(method, path, query, ts, nonce, body)),
    }


def api_client_read(client: ApiClient) -> ApiClientRead:
    return ApiClientRead.model_validate(client)


def list_clients(session: Session, *, limit: int, cursor: str | None) -> Page[ApiClientRead]:
    return paginate(
        session,
        select(ApiClient),
        id_column=ApiClient.id,
        limit=limit,
        cursor=cursor,
        to_read=api_client_read,
    )


def get_client(session: Session, *, client_id: uuid.UUID) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound("no such API client")
    return client


def create_client(session: Session, *, actor: Principal, data: ApiClientCreate) -> ApiClientCreated:
    actor.require("apiclient.manage")
    if actor.is_operator:
        raise PermissionDenied("API clients belong to institutions")
    perms = _check_permissions(data.permissions, tenant_kind="institution", field_name="permissions")
    _no_escalation(actor, perms)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        name=data.name,
        key_id=f"cvk.{actor.tenant_slug}.{secrets.token_hex(8)}",
        secret_sealed=b"",
        permissions=perms,
    )
    session.add(client)
    session.flush()
    client.secret_sealed = secretbox.seal(secret.encode(), purpose=f"apiclient:{client.id}")
    audit.record(
        session,
        actor=actor,
        action="apiclient.create",
        object_type="api_client",
        object_id=client.id,
        details={"permissions": perms},
    )
    read = api_client_read(client)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="apiclient.created", payload=read.model_dump(mode="json"))
    session.commit()
    return ApiClientCreated(**read.model_dump(), secret=secret)


def revoke_client(session: Session, *, actor: Principal, client_id: uuid.UUID) -> ApiClientRead:
    actor.require("apiclient.manage")
    client = get_client(session, client_id=client_id)
    client.status = "revoked"
    forget_client_secret(client.id)
    audit.record(session, actor=actor, action="apiclient.revoke", object_type="api_client", object_id=client.id)
    read = api_client_read(client)
    outbox.emit(session, tenant_slug=actor.tenant_slug, name="apiclient.revoked", payload={"id": str(client.id)})
    session.commit()
    return read


# Key material decrypted per client, keyed by the sealed bytes: a rotated secret has other sealed bytes, so a
# stale entry can never match. The client row itself (status) is read on every request, in the request's own
# transaction, so a revoked client is refused at once in every process; the cache only saves the decryption.
_KEY_TTL_S = 60.0
_keys: dict[uuid.UUID, tuple[bytes, str, float]] = {}
_keys_lock = threading.Lock()
# Nonces older than twice the allowed skew can no longer be replayed (their timestamp is refused): deleting them
# is housekeeping, done at most once per interval per process instead of on every request.
_NONCE_PRUNE_INTERVAL_S = 30.0
_last_prune = 0.0
# `last_used_at` is shown to administrators with minute precision: writing the client row on every request
# would make all concurrent requests of one client wait on that row's lock (PostgreSQL).
_LAST_USED_PRECISION = timedelta(seconds=60)


def client_secret(client_id: uuid.UUID, sealed: bytes) -> str:
    """The client's HMAC secret, decrypted at most once per TTL for the same sealed value."""
    now = time.monotonic()
    with _keys_lock:
        cached = _keys.get(client_id)
    if cached is not None and cached[0] == sealed and cached[2] > now:
        return cached[1]
    secret = secretbox.unseal(sealed, purpose=f"apiclient:{client_id}").decode()
    with _keys_lock:
        _keys[client_id] = (sealed, secret, now + _KEY_TTL_S)
    return secret


def forget_client_secret(client_id: uuid.UUID | None = None) -> None:
    """Drop cached key material (one client's, or all): on revocation, and in tests."""
    with _keys_lock:
        if client_id is None:
            _keys.clear()
        else:
            _keys.pop(client_id, None)


def _prune_due() -> bool:
    global _last_prune
    now = time.monotonic()
    with _keys_lock:
        if now - _last_prune < _NONCE_PRUNE_INTERVAL_S:
            return False
        _last_prune = now
        return True


def authenticate(
    session: Session,
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
    body_sha256: str | None = None,
    commit: bool = True,
) -> Principal:
    """Verify a signed request; bind the session to the client's institution and return its principal.

    With ``commit=False`` the nonce is written (flushed: a concurrent copy still fails on the primary key) but left
    in the open transaction, for a route that commits it together with its action (`api.RequiresOneCommit`)."""
    key_id = headers.get("x-callvault-key", "")
    ts_raw = headers.get("x-callvault-timestamp", "")
    nonce = headers.get("x-callvault-nonce", "")
    signatures = headers.get("x-callvault-signature", "").split()
    match = KEY_RE.match(key_id)
    if not match:
        raise BadSignature("unknown key")
    # The tenant's id, slug and kind come from a per-process cache; its status is read below with the client row.
    tenant = tenancy.identity_by_slug(session, slug=match.group(1))
    if tenant is None:
        raise BadSignature("unknown key")
    set_tenant(session, tenant.id)
    actor = Principal(
        kind="api_client",
        id=None,
        name=key_id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_kind=tenant.kind,
        source_ip=source_ip,
        request_id=request_id,
    )

    def reject(reason: str, detail: str) -> BadSignature:
        audit.record(session, actor=actor, action="api.signature", outcome="failure", details={"reason": reason})
        session.commit()
        return BadSignature(detail)

    # Client and tenant status are read in the request's own transaction, in one statement and never cached: a
    # revoked client or suspended institution is refused at once, in every process.
    client = session.execute(
        select(
            ApiClient.id,
            ApiClient.name,
            ApiClient.secret_sealed,
            ApiClient.permissions,
            ApiClient.status,
            ApiClient.last_used_at,
            Tenant.status.label("tenant_status"),
        )
        .join(Tenant, Tenant.id == ApiClient.tenant_id)
        .where(ApiClient.key_id == key_id)
    ).one_or_none()
    if client is None or client.status != "active" or client.tenant_status != TenantStatus.ACTIVE.value:
        raise reject("unknown or revoked key", "unknown key")
    if not ts_raw.isdigit() or not NONCE_RE.match(nonce):
        raise reject("malformed headers", "timestamp and nonce headers are required")
    now = clock.now()
    skew = get_settings().hmac_skew_seconds
    if abs(now.timestamp() - int(ts_raw)) > skew:
        raise reject("timestamp skew", f"timestamp outside ±{skew} s")
    expected = sign(
        client_secret(client.id, client.secret_sealed),
        canonical_request(method, path, query, ts_raw, nonce, body, body_sha256=body_sha256),
    )
    if not any(hmac.compare_digest(expected, s) for s in signatures[:2]):
        raise reject("signature mismatch", "signature does not match")
    if _prune_due():
        session.execute(delete(ApiNonce).where(ApiNonce.seen_at < now - timedelta(seconds=2 * skew)))
    # The primary key (key, nonce) makes a replay fail even when two copies race. Written at once (a plain
    # insert, no unit of work), so a concurrent copy waits on or fails against it.
    try:
        session.connection().execute(
            insert(_NONCES), {"key_id": key_id, "nonce": nonce, "seen_at": now, "tenant_id": tenant.id}
        )
    except IntegrityError:
        session.rollback()
        set_tenant(session, tenant.id)
        raise reject("nonce reused", "nonce already used") from None
    if client.last_used_at is None or now - client.last_used_at >= _LAST_USED_PRECISION:
        session.connection().execute(update(_CLIENTS).where(_CLIENTS.c.id == client.id).values(last_used_at=now))
    if commit:
        session.commit()
    return Principal(
        kind="api_client",
        id=client.id,
        name=client.name,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_kind=tenant.kind,
        permissions=frozenset(client.permissions),
        source_ip=source_ip,
        request_id=request_id,
    )


def record_nonce(session: Session, *, key_id: str, nonce: str) -> bool:
    """Write a nonce whose request's transaction was rolled back (the request failed): the nonce stays used.
    False if it is recorded already."""
    session.add(ApiNonce(key_id=key_id, nonce=nonce, seen_at=clock.now()))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True
