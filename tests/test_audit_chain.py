"""The audit trail in the database is a verifiable hash chain per tenant (edits, deletions, insertions and
reordering are detected and the first bad record is named)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from callvault.config import Settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.security import audit
from callvault.security.audit_models import AuditCheckpoint, AuditEvent
from tests.fixtures import World

pytestmark = pytest.mark.sec("SEC-20")


@pytest.fixture
def owner_engine(settings: Settings) -> Iterator[Engine]:
    """Tampering needs the schema owner: on PostgreSQL the application role cannot change audit rows."""
    engine = create_engine(settings.effective_admin_url)
    yield engine
    engine.dispose()


def _verify(db: Database, tenant_id: Any) -> Any:
    with db.scoped() as s:
        set_tenant(s, tenant_id)
        return audit.verify_tenant(s, tenant_id=tenant_id)


def _chained_institution(world: World, login: Any) -> Any:
    inst = world.institution()
    s = login(inst.accounts["admin"])
    for i in range(4):
        assert (
            s.post("/api/v1/users", json={"username": f"agent-{i}", "password": "Valid-password-123"}).status_code
            == 201
        )
    return inst


def test_every_action_extends_a_valid_chain_with_signed_checkpoints(world: World, login: Any, db: Database) -> None:
    inst = _chained_institution(world, login)
    result = _verify(db, inst.id)
    assert result.ok, result
    assert result.records_checked >= 8
    assert result.checkpoints_checked >= 1
    with db.scoped() as s:
        set_tenant(s, inst.id)
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, len(seqs) + 1))
        assert s.scalar(select(func.count()).select_from(AuditCheckpoint)) >= 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = :t AND seq = 3", "edited"),
        ("DELETE FROM audit_events WHERE tenant_id = :t AND seq = 3", "deleted"),
    ],
)
def test_edit_and_delete_are_found_at_the_record(
    world: World, login: Any, db: Database, owner_engine: Engine, tamper: str, reason: str
) -> None:
    inst = _chained_institution(world, login)
    tid = inst.id if db.is_postgres else inst.id.hex
    with owner_engine.begin() as conn:
        conn.execute(text(tamper), {"t": tid})
    result = _verify(db, inst.id)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert reason in str(result.reason)


def test_reordering_is_found(world: World, login: Any, db: Database, owner_engine: Engine) -> None:
    inst = _chained_institution(world, login)
    tid = inst.id if db.is_postgres else inst.id.hex
    with owner_engine.begin() as conn:
        # Swap the positions of records 4 and 5 (through a free seq, as (tenant, seq) is unique).
        conn.execute(text("UPDATE audit_events SET seq = -1 WHERE tenant_id = :t AND seq = 4"), {"t": tid})
        conn.execute(text("UPDATE audit_events SET seq = 4 WHERE tenant_id = :t AND seq = 5"), {"t": tid})
        conn.execute(text("UPDATE audit_events SET seq = 5 WHERE tenant_id = :t AND seq = -1"), {"t": tid})
    result = _verify(db, inst.id)
    assert not result.ok
    assert result.first_bad_seq == 4


def test_cli_verify_exits_non_zero_naming_the_first_bad_record(
    world: World, login: Any, db: Database, owner_engine: Engine
) -> None:
    import os
    import sys

    inst = _chained_institution(world, login)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "callvault", "audit", "verify", "--tenant", inst.slug],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )

    ok = run()
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    tid = inst.id if db.is_postgres else inst.id.hex
    with owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET action = 'user.delete' WHERE tenant_id = :t AND seq = 2"), {"t": tid}
        )
    broken = run()
    assert broken.returncode == 1
    assert "first bad record seq 2" in broken.stderr


def test_concurrent_appends_keep_the_chain_valid(world: World, login: Any, db: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    inst = world.institution()
    s = login(inst.accounts["admin"])

    def create(i: int) -> int:
        return int(s.post("/api/v1/users", json={"username": f"c-{i}", "password": "Valid-password-123"}).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(create, range(24))) == {201}
    result = _verify(db, inst.id)
    assert result.ok, result


def test_parallel_segment_scan_agrees_with_the_full_verifier(
    world: World, db: Database, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callvault.config import get_settings
    from tests.security.test_audit_export import append

    monkeypatch.setattr(get_settings(), "audit_checkpoint_every_records", 4)
    inst = world.institution(roles=())
    append(db, inst.slug, 30)
    with db.scoped() as s:
        set_tenant(s, inst.id)
        serial = audit.verify_tenant(s, tenant_id=inst.id, workers=1)
        parallel = audit.verify_tenant(s, tenant_id=inst.id, workers=3, parallel_from=1)
    assert serial.ok and parallel.ok
    assert parallel.records_checked == serial.records_checked >= 30
    assert parallel.head == serial.head and parallel.checkpoints_checked == serial.checkpoints_checked >= 7
    tid = inst.id if db.is_postgres else inst.id.hex
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET object_id = 'x' WHERE tenant_id = :t AND seq = 17"), {"t": tid})
    with db.scoped() as s:
        set_tenant(s, inst.id)
        broken = audit.verify_tenant(s, tenant_id=inst.id, workers=3, parallel_from=1)
    assert not broken.ok and broken.first_bad_seq == 17


def test_records_of_a_rolled_back_savepoint_leave_no_gap(world: World, db: Database) -> None:
    from callvault.security.principal import system_principal

    inst = world.institution(roles=())
    with db.scoped() as s:
        set_tenant(s, inst.id)
        actor = system_principal(tenant_id=inst.id, tenant_slug=inst.slug, tenant_kind="institution")
        audit.record(s, actor=actor, action="test.kept")
        savepoint = s.begin_nested()
        audit.record(s, actor=actor, action="test.undone")
        savepoint.rollback()
        audit.record(s, actor=actor, action="test.kept")
        s.commit()
    result = _verify(db, inst.id)
    assert result.ok, result
    with db.scoped() as s:
        set_tenant(s, inst.id)
        assert "test.undone" not in {r.action for r in audit.stored_records(s)}
