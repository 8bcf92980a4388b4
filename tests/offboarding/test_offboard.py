"""`callvault tenant offboard`: crypto-shred, deletion of every row and file, signed certificate; resumable after
kill -9 with no unreported half-done state."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from callvault.config import Settings, get_settings
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.offboarding.models import TenantOffboarding
from callvault.offboarding.offboard import run_offboarding, verify_certificate
from callvault.offboarding.recordings import tenant_files_dir
from callvault.offboarding.tables import RETAINED_TABLES
from callvault.offboarding.vault_hooks import key_shredder
from callvault.security import audit
from callvault.security.audit_models import AuditEvent
from callvault.security.errors import KeyDestroyed
from callvault.security.vault import FieldCipher, FieldContext, Keyring, MasterKey
from callvault.security.vault.sqlstore import SqlKeyStore
from callvault.tenancy import service as tenancy
from tests.fixtures import PASSWORD, World
from tests.offboarding.helpers import cv, cv_background, row_counts, seed_contacts, seeded_institution, wait_for
from tests.offboarding.test_export import _export

pytestmark = pytest.mark.sec("SEC-07")

CANARY = "Canary-Offboard-7Q"


def _offboard(db: Database, slug: str, **kw: Any) -> Any:
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
    return run_offboarding(db, actor=actor, slug=slug, shredder=key_shredder(), **kw)


def _status(slug: str) -> tuple[int, dict[str, Any]]:
    r = cv("tenant", "offboard-status", slug, "--json")
    assert r.returncode in (0, 2), r.stderr
    return r.returncode, json.loads(r.stdout)


def _cert(directory: Path) -> dict[str, Any]:
    certificate: dict[str, Any] = json.loads((directory / "cert.json").read_text())["certificate"]
    return certificate


def _all_text(settings: Settings) -> str:
    """Every value of every table as text: what a dump of the database would show."""
    engine = create_engine(settings.effective_admin_url)
    parts: list[str] = []
    try:
        with engine.connect() as conn:
            for name in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                    parts.extend(str(v) for v in row)
    finally:
        engine.dispose()
    return "\n".join(parts)


def test_offboarding_destroys_everything_of_the_institution_and_nothing_else(
    db: Database, settings: Settings, world: World, client: TestClient, tmp_path: Path
) -> None:
    inst = seeded_institution(world, bulk_rows=30)
    world.user(inst.slug, role="agent", username=CANARY.lower())
    other = seeded_institution(world, bulk_rows=5)
    files = tenant_files_dir(get_settings(), inst.id)
    (files / "recordings").mkdir(parents=True)
    (files / "recordings" / "one.cvr").write_bytes(b"\x00" * 100)
    (files / "import.csv").write_text("x")
    mine = seed_contacts(db, inst.id, names=["张三", "李四"])
    theirs = seed_contacts(db, other.id, names=["王五"])
    kept_copy = mine[0].contact["name_ct"]  # a ciphertext copied off the database before offboarding
    other_counts = row_counts(db, other.id)
    before = row_counts(db, inst.id)
    _export(db, inst.slug, tmp_path / "export")

    result = _offboard(db, inst.slug, batch_size=7, certificate_out=tmp_path / "cert.json")

    after = row_counts(db, inst.id)
    assert all(n == 0 for name, n in after.items() if name not in RETAINED_TABLES), after
    assert result.rows_deleted == {n: c for n, c in before.items() if c and n not in RETAINED_TABLES}
    assert result.files_deleted == 2 and not files.exists()
    assert row_counts(db, other.id) == other_counts
    fresh = Keyring(MasterKey.from_file(os.environ["CALLVAULT_MASTER_KEY_FILE"]), SqlKeyStore.for_engine(db.engine))
    cipher = FieldCipher(fresh)
    with pytest.raises(KeyDestroyed):
        cipher.decrypt_text(kept_copy, context=FieldContext(inst.id, "contacts", "name", mine[0].id))
    other_ctx = FieldContext(other.id, "contacts", "name", theirs[0].id)
    assert cipher.decrypt_text(theirs[0].contact["name_ct"], context=other_ctx) == "王五"
    assert _cert(tmp_path)["key_versions_destroyed"] == {"data": [1], "index": [1]}
    assert CANARY.lower() not in _all_text(settings)

    # The certificate verifies with the platform key, and its audit head is the institution's chain head.
    document = json.loads((tmp_path / "cert.json").read_text())
    assert verify_certificate(document, audit.signer().public_key)
    forged = {**document, "certificate": {**document["certificate"], "rows_deleted": {}}}
    assert not verify_certificate(forged, audit.signer().public_key)
    cert = document["certificate"]
    assert cert["tenant"]["id"] == str(inst.id) and cert["export"]["manifest_sha256"]
    with db.scoped() as session:
        set_tenant(session, inst.id)
        head = audit.chain_head(session)
        assert audit.verify_tenant(session, tenant_id=inst.id).ok
        session.rollback()
        op_id = world.operator_actor()[1]
        set_tenant(session, op_id)
        # The last phase in chain order: without ORDER BY, PostgreSQL may return rows in any order (freed
        # space left by the deleted rows is reused).
        record = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "tenant.offboard", AuditEvent.object_id == str(inst.id))
            .order_by(AuditEvent.seq)
        ).all()[-1]
        assert audit.verify_tenant(session, tenant_id=op_id).ok
    assert cert["institution_audit_head"] == {"seq": head.seq, "hash": head.hash}
    assert record.details["phase"] == "completed" and record.details["certificate"].startswith("sha256:")

    # Nobody of the institution logs in any more; the other institution still works.
    login = client.post(
        "/api/v1/auth/login", json={"institution": inst.slug, "username": CANARY.lower(), "password": PASSWORD}
    )
    assert login.status_code == 401
    code, status = _status(inst.slug)
    assert (
        code == 0 and status["step"] == "completed" and status["consistent"] and status["tenant_status"] == "offboarded"
    )
    assert _status(other.slug)[1]["step"] is None
    # Idempotent: a second run changes nothing and reports the same certificate.
    again = _offboard(db, inst.slug, certificate_out=tmp_path / "cert.json")
    assert again.certificate == document


def test_offboarding_requires_an_export_and_the_exact_slug(world: World, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    wrong = cv("tenant", "offboard", inst.slug, "--confirm", inst.slug + "x")
    assert wrong.returncode == 1 and "--confirm must repeat" in wrong.stderr
    no_export = cv("tenant", "offboard", inst.slug, "--confirm", inst.slug)
    assert no_export.returncode == 1 and "no completed export" in no_export.stderr
    assert _status(inst.slug)[1]["step"] is None  # nothing happened
    forced = cv("tenant", "offboard", inst.slug, "--confirm", inst.slug, "--without-export")
    assert forced.returncode == 0, forced.stderr
    code, status = _status(inst.slug)
    assert code == 0 and status["step"] == "completed" and not status["export_completed"]
    refused = cv("tenant", "export", inst.slug, "--out", str(tmp_path / "late"))
    assert refused.returncode == 1 and "offboarded" in refused.stderr
    nobody = cv("tenant", "offboard", "operator", "--confirm", "operator")
    assert nobody.returncode == 1 and "no institution operator" in nobody.stderr


def test_offboarding_killed_mid_deletion_is_reported_and_finished_by_a_rerun(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = seeded_institution(world, bulk_rows=40_000)
    _export(db, inst.slug, tmp_path / "export")
    initial = {name: n for name, n in row_counts(db, inst.id).items() if name not in RETAINED_TABLES}
    proc = cv_background("tenant", "offboard", inst.slug, "--confirm", inst.slug, "--batch-size", "100")

    def mid_deletion() -> bool:
        with db.scoped() as session:
            job = session.scalars(select(TenantOffboarding).where(TenantOffboarding.tenant_id == inst.id)).first()
            session.rollback()
            return job is not None and job.step == "keys_destroyed" and sum(job.rows_deleted.values()) > 0

    try:
        wait_for(mid_deletion, proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    code, status = _status(inst.slug)
    assert code == 2 and not status["finished"] and status["consistent"]
    assert status["keys_destroyed"] and not status["keys"] and status["rows_remaining"]
    assert status["verdict"].startswith("UNFINISHED: keys destroyed")
    # The recorded counts are exact: for every table, deleted + remaining == what there was.
    for name, count in initial.items():
        assert status["rows_deleted"].get(name, 0) + status["rows_remaining"].get(name, 0) == count, name

    again = cv("tenant", "offboard", inst.slug, "--confirm", inst.slug)
    assert again.returncode == 0, again.stderr
    code, status = _status(inst.slug)
    assert code == 0 and status["step"] == "completed" and not status["rows_remaining"]
    assert status["rows_deleted"] == {name: n for name, n in initial.items() if n}
    assert all(n == 0 for name, n in row_counts(db, inst.id).items() if name not in RETAINED_TABLES)
