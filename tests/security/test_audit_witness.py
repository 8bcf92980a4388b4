"""Signed checkpoints leave the database: an append-only directory and the institution's webhook (a real HTTP
server here); `callvault audit verify` fails when the database no longer matches a witness copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from callvault.config import Settings
from callvault.core import clock
from callvault.core.db import Database
from callvault.core.outbox_models import OutboxEvent
from callvault.core.tenant_context import set_tenant
from callvault.security import audit, witness
from callvault.security.audit_models import AuditCheckpoint
from callvault.tenancy import service as tenancy
from callvault.tenancy.schemas import TenantUpdate
from tests.fixtures import World

from .test_audit_export import append

pytestmark = pytest.mark.sec("SEC-20")


@pytest.fixture
def owner_engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.effective_admin_url)
    yield engine
    engine.dispose()


@pytest.fixture
def witnessed(settings: Settings, tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    directory = tmp_path / "witness"
    database = Database(settings.model_copy(update={"audit_witness_dir": directory}))
    yield database, directory
    database.dispose()


def _checkpoints(db: Database, tenant_id: Any) -> list[Any]:
    with db.scoped() as s:
        set_tenant(s, tenant_id)
        return audit.stored_checkpoints(s)


def test_directory_witness_holds_every_checkpoint_and_verify_catches_a_cut(
    witnessed: tuple[Database, Path], owner_engine: Engine, settings: Settings
) -> None:
    db, directory = witnessed
    inst = World(db).institution(roles=())
    append(db, inst.slug, 3)
    clock.travel(3600)  # the time limit makes the next record a checkpoint
    append(db, inst.slug, 2)
    stored = _checkpoints(db, inst.id)
    assert len(stored) >= 2
    lines = witness.witness_file(directory, inst.id).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [cp.seq for cp in stored]
    assert witness.compare_with_directory(directory, inst.id, stored) == []

    def verify() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "250", "CALLVAULT_AUDIT_WITNESS_DIR": str(directory)}
        cmd = [sys.executable, "-m", "callvault", "audit", "verify", "--tenant", inst.slug]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)

    assert verify().returncode == 0
    # Someone with database access cuts the newest records and their checkpoint: the chain left in the database
    # is still valid, only the witness shows what is gone.
    last = stored[-1].seq
    tid = inst.id if db.is_postgres else inst.id.hex
    with owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE tenant_id = :t AND seq >= :s"), {"t": tid, "s": last})
        conn.execute(text("DELETE FROM audit_checkpoints WHERE tenant_id = :t AND seq = :s"), {"t": tid, "s": last})
        conn.execute(text("UPDATE audit_chain_heads SET seq = :s WHERE tenant_id = :t"), {"t": tid, "s": last - 1})
    with db.scoped() as s:
        set_tenant(s, inst.id)
        assert audit.verify_tenant(s, tenant_id=inst.id).ok
    cut = verify()
    assert cut.returncode == 1
    assert f"checkpoint at seq {last} is missing from the database" in cut.stdout + cut.stderr


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"answers": [503], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callvault/checkpoints", handler
    server.shutdown()
    server.server_close()


def test_webhook_witness_is_signed_and_retried_through_the_outbox(
    world: World, db: Database, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    inst = world.institution(roles=())
    with db.scoped() as s:
        found = tenancy.bind(s, slug=inst.slug)
        settings, secret = witness.webhook_settings(inst.id, url, current=dict(found.settings or {}))
        tenancy.update_tenant(
            s, actor=tenancy.operator_principal(s), tenant_id=inst.id, data=TenantUpdate(settings=settings)
        )
    clock.travel(3600)
    append(db, inst.slug, 1)  # checkpointed by the time limit; the receiver answers 503 the first time
    assert len(handler.received) == 1
    with db.scoped() as s:
        set_tenant(s, inst.id)
        pending = s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None)))
        assert pending == 1
    with db.scoped() as s:
        assert db.relay.recover(s, [inst.id]) == 1
    assert len(handler.received) == 2
    headers, body = handler.received[-1]
    assert headers["x-callvault-signature"] == witness.webhook_signature(secret, body)
    assert headers["x-callvault-event-id"]
    sent = json.loads(body)
    with db.scoped() as s:
        set_tenant(s, inst.id)
        newest = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc())).first()
        assert newest is not None and sent["seq"] == newest.seq and sent["hash"] == newest.hash
    with db.scoped() as s:
        assert db.relay.recover(s, [inst.id]) == 0
