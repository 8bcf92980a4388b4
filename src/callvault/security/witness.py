"""Off-box witnesses of the signed audit checkpoints.

Every checkpoint becomes an outbox event (``t.<slug>.audit.checkpoint``, its payload the checkpoint's export form)
in the transaction that signs it. After commit the relay hands it to the witnesses configured here; a witness that
fails leaves the event unpublished, so the relay delivers it again (at start-up, `OutboxRelay.recover`):

* an append-only directory (``CALLVAULT_AUDIT_WITNESS_DIR``, e.g. on another disk or a WORM mount): one
  ``<tenant id>.jsonl`` file per tenant, a line per checkpoint, written with O_APPEND and fsync;
* the institution's webhook (tenant setting ``audit_webhook_url``): an HMAC-SHA256-signed POST of the checkpoint.

`callvault audit verify` compares the database's checkpoints with the directory copies: a witness checkpoint that
the database lacks, or holds differently, means the database was rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import structlog

from callvault.core import secretbox
from callvault.core.events import Event
from callvault.security.checkpoints import Checkpoint

if TYPE_CHECKING:
    from callvault.core.db import Database

log = structlog.get_logger(__name__)

EVENT_NAME: Final = "audit.checkpoint"
SUBJECT_PATTERN: Final = "t.*.audit.checkpoint"
WEBHOOK_URL_SETTING: Final = "audit_webhook_url"
WEBHOOK_VERSION_SETTING: Final = "audit_webhook_key_version"
SIGNATURE_HEADER: Final = "X-CallVault-Signature"
WEBHOOK_TIMEOUT_S: Final = 5.0


def webhook_secret(tenant_id: uuid.UUID | str, version: int) -> str:
    """The institution's webhook key: derived from the installation key, so the database holds no secret (a new
    version gives a new key)."""
    raw = secretbox.derive(f"audit-webhook:{tenant_id}:{version}")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def webhook_signature(secret: str, body: bytes) -> str:
    """``v1=`` + base64 HMAC-SHA256 of the exact body, as in the API request signatures."""
    return "v1=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_settings(tenant_id: uuid.UUID, url: str, *, current: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The tenant's settings with a webhook witness at `url` and a fresh key version, and that key (shown once)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the webhook URL must start with https:// or http://")
    version = int(current.get(WEBHOOK_VERSION_SETTING, 0)) + 1
    updated = {**current, WEBHOOK_URL_SETTING: url, WEBHOOK_VERSION_SETTING: version}
    return updated, webhook_secret(tenant_id, version)


def witness_file(directory: Path, tenant_id: uuid.UUID | str) -> Path:
    return directory / f"{tenant_id}.jsonl"


def append_to_directory(directory: Path, checkpoint: dict[str, Any]) -> None:
    """Append one line and fsync it; a repeated delivery writes an identical line, which readers ignore."""
    directory.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(checkpoint, sort_keys=True) + "\n").encode()
    fd = os.open(witness_file(directory, checkpoint["tenant_id"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def post_to_webhook(url: str, secret: str, checkpoint: dict[str, Any], *, event_id: str) -> None:
    """POST the checkpoint; any answer but 2xx (or no answer) raises, so the relay retries."""
    body = json.dumps(checkpoint, sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - the institution configures an http(s) URL (checked on setting)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature(secret, body),
            "X-CallVault-Event-Id": event_id,
        },
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered {response.status}")


def install(db: Database) -> None:
    """Register the configured witnesses as required consumers of the checkpoint events."""
    directory = db.settings.audit_witness_dir

    def deliver(event: Event) -> None:
        checkpoint = event.payload
        if directory is not None:
            append_to_directory(directory, checkpoint)
        webhook = _webhook_of(db, event.tenant_id)
        if webhook is not None:
            post_to_webhook(webhook[0], webhook[1], checkpoint, event_id=str(event.id))

    db.relay.add_consumer(SUBJECT_PATTERN, deliver)


def _webhook_of(db: Database, tenant_id: uuid.UUID) -> tuple[str, str] | None:
    from callvault.tenancy import service as tenancy

    with db.scoped() as session:
        settings = dict(tenancy.get(session, tenant_id=tenant_id).settings or {})
        session.rollback()
    url = settings.get(WEBHOOK_URL_SETTING)
    if not url:
        return None
    return str(url), webhook_secret(tenant_id, int(settings.get(WEBHOOK_VERSION_SETTING, 1)))


def compare_with_directory(directory: Path, tenant_id: uuid.UUID, stored: Iterable[Checkpoint]) -> list[str]:
    """Problems with the database's checkpoints as seen by the directory witness (empty when they agree).

    Every witness checkpoint must be in the database, identical. Database checkpoints the witness has not
    received yet (a delivery still pending) are not a failure."""
    path = witness_file(directory, tenant_id)
    if not path.exists():
        return []
    in_db = {cp.seq: cp for cp in stored}
    problems: list[str] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                seen = Checkpoint.from_dict(json.loads(line))
            except (ValueError, KeyError):
                problems.append(f"witness line {number} is not a checkpoint")
                continue
            if seen.tenant_id != str(tenant_id):
                problems.append(f"witness line {number} belongs to another tenant")
            elif seen.seq not in in_db:
                problems.append(f"checkpoint at seq {seen.seq} is missing from the database")
            elif in_db[seen.seq] != seen:
                problems.append(f"checkpoint at seq {seen.seq} differs from the database")
    return problems
