"""`callvault tenant export`: every tenant table, the audit trail and a signed manifest; resumable after kill -9."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, Table, Uuid, select, update

from callvault.all_models import metadata
from callvault.contacts.models import ContactRecord
from callvault.core.db import Database
from callvault.core.tenant_context import set_tenant
from callvault.migrations.runner import head_revision, tenant_tables
from callvault.offboarding.export import STATE_FILE, run_export
from callvault.offboarding.manifest import verify_export
from callvault.offboarding.models import TenantExport
from callvault.offboarding.tables import institution_tables
from callvault.security import audit
from callvault.security.audit_models import AuditEvent
from callvault.security.auditchain import records_from_jsonl, verify_chain
from callvault.security.checkpoints import Checkpoint
from callvault.tenancy import service as tenancy
from tests.fixtures import World
from tests.offboarding.helpers import (
    cv,
    cv_background,
    manifest_of,
    row_counts,
    seed_contacts,
    seeded_institution,
    wait_for,
)

pytestmark = pytest.mark.sec("SEC-07")


def _export(db: Database, slug: str, out: Path) -> None:
    with db.scoped() as session:
        actor = tenancy.operator_principal(session)
    run_export(db, actor=actor, slug=slug, out_dir=out)


def test_export_holds_every_tenant_table_with_db_counts_and_a_valid_signature(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = seeded_institution(world, bulk_rows=25)
    other = seeded_institution(world, bulk_rows=7)
    out = tmp_path / "export"
    _export(db, inst.slug, out)

    manifest = manifest_of(out)
    counts = row_counts(db, inst.id)
    by_table = {f["table"]: f for f in manifest["files"] if f["kind"] == "table"}
    # Every table with a tenant_id (found independently of the exporter) has its file, with the DB's count.
    assert set(by_table) == set(tenant_tables())
    for name, entry in by_table.items():
        lines = (out / entry["path"]).read_bytes().splitlines()
        assert entry["rows"] == len(lines), name
        if name not in ("audit_events", "audit_chain_heads", "audit_checkpoints"):
            assert entry["rows"] == counts[name], name
        assert all(json.loads(line)["tenant_id"] == str(inst.id) for line in lines), name
    assert by_table["outbox_events"]["rows"] >= 25 and by_table["users"]["rows"] == 2
    assert str(other.id) not in "".join(p.read_text() for p in (out / "tables").iterdir())
    # Credential material is withheld.
    assert all(
        json.loads(line)["password_hash"] is None for line in (out / "tables/users.jsonl").read_text().splitlines()
    )
    assert manifest["schema_version"] == head_revision()
    assert manifest["tenant"] == {"id": str(inst.id), "slug": inst.slug, "name": f"Bank {inst.slug}"}

    result = verify_export(out, public_key=audit.signer().public_key)
    assert result.ok, result.problems
    assert not (out / STATE_FILE).exists()


def test_exported_audit_trail_verifies_and_the_export_is_audited_in_both_chains(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = seeded_institution(world)
    out = tmp_path / "export"
    _export(db, inst.slug, out)
    with (out / "audit/audit.jsonl").open("rb") as records, (out / "audit/checkpoints.jsonl").open("rb") as cps:
        checkpoints = [Checkpoint.from_dict(json.loads(line)) for line in cps if line.strip()]
        verdict = verify_chain(records_from_jsonl(records), checkpoints, audit.signer().public_key, tenant_id=inst.id)
    assert verdict.ok and verdict.records_checked >= 3
    assert (out / "audit/audit-signing-public.pem").read_bytes() == audit.signer().public_key_pem()
    with db.scoped() as session:
        op_id = world.operator_actor()[1]
        for tenant_id in (inst.id, op_id):
            set_tenant(session, tenant_id)
            phases = [
                e.details.get("phase")
                for e in session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action == "tenant.export", AuditEvent.object_id == str(inst.id))
                    .order_by(AuditEvent.seq)
                )
            ]
            assert phases == ["started", "completed"], tenant_id
        job = session.scalars(select(TenantExport).where(TenantExport.tenant_id == inst.id)).one()
        assert job.completed_at is not None and job.files == len(manifest_of(out)["files"])


def test_tampered_or_missing_files_and_a_forged_manifest_fail_verification(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = seeded_institution(world)
    out = tmp_path / "export"
    _export(db, inst.slug, out)
    users = out / "tables/users.jsonl"
    users.write_text(users.read_text().replace("active", "ACTIVE"))
    result = verify_export(out)
    assert not result.ok and any("users.jsonl" in p for p in result.problems)
    (out / "tables/roles.jsonl").unlink()
    assert any("roles.jsonl: missing" in p for p in verify_export(out).problems)
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"rows": 2', b'"rows": 3'))
    assert verify_export(out).problems == ["manifest signature does not verify"]


def test_openssl_and_sha256sum_verify_the_export_as_documented(db: Database, world: World, tmp_path: Path) -> None:
    """The procedure of docs/tenant-offboarding.md, with standard tools only."""
    if not shutil.which("openssl") or not shutil.which("sha256sum"):
        pytest.skip("openssl or sha256sum not installed")
    inst = seeded_institution(world)
    out = tmp_path / "export"
    _export(db, inst.slug, out)
    sig = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-public-key.pem",
            "-rawin",
            "-in",
            "manifest.json",
            "-sigfile",
            "manifest.sig",
        ],
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert sig.returncode == 0 and "Signature Verified Successfully" in sig.stdout, sig.stdout + sig.stderr
    sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in manifest_of(out)["files"])
    check = subprocess.run(["sha256sum", "--check", "--strict"], input=sums, cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_new_tenant_table_is_exported_without_any_change_to_the_exporter() -> None:
    """Discovery comes from the metadata: a table with tenant_id joins the export (and the deletion) by itself."""
    probe = Table("zz_future_feature", metadata, Column("id", Integer, primary_key=True), Column("tenant_id", Uuid))
    try:
        assert probe in institution_tables()
    finally:
        metadata.remove(probe)
    assert probe not in institution_tables()


def test_export_refuses_an_unknown_institution_or_a_foreign_directory(world: World, tmp_path: Path) -> None:
    r = cv("tenant", "export", "no-such-bank", "--out", str(tmp_path / "x"))
    assert r.returncode == 1 and "no institution no-such-bank" in r.stderr and "Traceback" not in r.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("something else")
    inst = world.institution(roles=())
    r = cv("tenant", "export", inst.slug, "--out", str(busy))
    assert r.returncode == 1 and "not empty" in r.stderr
    op = cv("tenant", "export", "operator", "--out", str(tmp_path / "op"))
    assert op.returncode == 1 and "no institution operator" in op.stderr


def test_export_killed_mid_run_resumes_and_the_manifest_is_complete(db: Database, world: World, tmp_path: Path) -> None:
    inst = seeded_institution(world, bulk_rows=60_000)
    out = tmp_path / "export"
    proc = cv_background("tenant", "export", inst.slug, "--out", str(out))
    part = out / "tables" / "outbox_events.jsonl.part"

    def mid_run() -> bool:
        state = out / STATE_FILE
        return part.exists() and state.exists() and len(json.loads(state.read_text() or "{}").get("files", {})) > 0

    try:
        wait_for(mid_run, proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "manifest.json").exists()
    finished_before = json.loads((out / STATE_FILE).read_text())["files"]
    assert finished_before and "tables/outbox_events.jsonl" not in finished_before

    again = cv("tenant", "export", inst.slug, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert f"{len(finished_before)} kept from an earlier run" in again.stdout.replace("\n", " ")
    result = verify_export(out, public_key=audit.signer().public_key)
    assert result.ok, result.problems
    manifest = manifest_of(out)
    assert {f["table"] for f in manifest["files"] if f["kind"] == "table"} == set(tenant_tables())
    outbox = next(f for f in manifest["files"] if f["table"] == "outbox_events")
    assert outbox["rows"] == row_counts(db, inst.id)["outbox_events"] >= 60_000
    assert not list(out.rglob("*.part"))
    ok = cv("tenant", "verify-export", str(out))
    assert ok.returncode == 0 and "export OK" in ok.stdout


def test_sensitive_columns_are_exported_decrypted_under_their_field_names(
    db: Database, world: World, tmp_path: Path
) -> None:
    inst = world.institution(roles=())
    sealed = seed_contacts(db, inst.id, names=["张三", "李四"], phone="+8613812348000")
    out = tmp_path / "export"
    _export(db, inst.slug, out)
    contacts = [json.loads(line) for line in (out / "tables/contacts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(c["name"] for c in contacts) == ["张三", "李四"]
    assert all("name_ct" not in c and c["card_number"] is None for c in contacts)
    assert {c["id"] for c in contacts} == {str(s.id) for s in sealed}
    phones = [json.loads(line) for line in (out / "tables/contact_phones.jsonl").read_text().splitlines()]
    assert [p["e164"] for p in phones] == ["+8613812348000", "+8613812348000"]
    columns = {c["name"]: c for c in manifest_of(out)["tables"]["contact_phones"]["columns"]}
    assert columns["e164"]["encoding"].startswith("decrypted (phone)")


def test_a_tampered_ciphertext_stops_the_export_as_a_security_event(db: Database, world: World, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    first, second = seed_contacts(db, inst.id, names=["张三", "李四"])
    # A ciphertext copied onto another row (SQL access) must not decrypt there, and must not vanish silently.
    with db.scoped() as session:
        set_tenant(session, inst.id)
        session.execute(
            update(ContactRecord).where(ContactRecord.id == second.id).values(name_ct=first.contact["name_ct"])
        )
        session.commit()
    r = cv("tenant", "export", inst.slug, "--out", str(tmp_path / "export"))
    assert r.returncode == 1 and "contacts.name_ct" in r.stderr and "integrity" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "export" / "manifest.json").exists()
    with db.scoped() as session:
        set_tenant(session, inst.id)
        failure = session.scalars(select(AuditEvent).where(AuditEvent.action == "vault.integrity_failure")).one()
        assert failure.object_id == str(second.id) and failure.outcome == "failure"


def test_rerunning_a_finished_export_writes_a_fresh_one(db: Database, world: World, tmp_path: Path) -> None:
    inst = world.institution(roles=())
    out = tmp_path / "export"
    _export(db, inst.slug, out)
    world.user(inst.slug, role="agent")
    r = cv("tenant", "export", inst.slug, "--out", str(out))
    assert r.returncode == 0 and "0 kept from an earlier run" in r.stdout.replace("\n", " ")
    users = next(f for f in manifest_of(out)["files"] if f["table"] == "users")
    assert users["rows"] == 1 and verify_export(out).ok
    other = world.institution(roles=())
    foreign = cv("tenant", "export", other.slug, "--out", str(out))
    assert foreign.returncode == 1 and "another institution" in foreign.stderr
